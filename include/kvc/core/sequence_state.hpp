// One sequence's stored form as named, typed arrays: what a policy saves and loads (kvc::io writes it as safetensors).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "kvc/core/dtype.hpp"
#include "kvc/core/error.hpp"

namespace kvc {

/// Named arrays of one sequence's state. A policy's `save_state(state, prefix)` puts its arrays
/// under `prefix`; `load_state(state, prefix)` reads them back and checks each one's element
/// type and shape, throwing kvc::error naming the array and what is wrong, so a file that was
/// altered or belongs to another policy or shape is rejected before anything is stored.
class sequence_state {
 public:
  struct array {
    std::string type;                // safetensors dtype: "F32", "BF16", "F16", "U8", "I64"
    std::vector<std::int64_t> shape;  // row-major
    std::vector<std::byte> bytes;
  };

  /// Stores `count` elements of `type` at `data` with `shape` under `name`.
  void put(const std::string& name, std::string type, std::vector<std::int64_t> shape, const void* data, std::size_t bytes) {
    array a{std::move(type), std::move(shape), std::vector<std::byte>(bytes)};
    if (bytes > 0) std::memcpy(a.bytes.data(), data, bytes);
    arrays_[name] = std::move(a);
  }
  /// Stores rows of element type T (float, bf16, f16) with `shape`.
  template <class T>
  void put_rows(const std::string& name, std::vector<std::int64_t> shape, const T* data, std::size_t count) {
    put(name, std::string(type_name<T>()), std::move(shape), data, count * sizeof(T));
  }
  /// Stores integers as one I64 array.
  void put_ints(const std::string& name, const std::vector<std::int64_t>& values) {
    put(name, "I64", {std::int64_t(values.size())}, values.data(), values.size() * sizeof(std::int64_t));
  }

  /// The array `name`, checked to have element type `type` and `shape`.
  const array& get(const std::string& name, const std::string& type, const std::vector<std::int64_t>& shape) const {
    const auto it = arrays_.find(name);
    detail::require(it != arrays_.end(), "sequence state: array '", name, "' is missing");
    const array& a = it->second;
    detail::require(a.type == type, "sequence state: array '", name, "' has element type ", a.type, ", expected ", type);
    detail::require(a.shape == shape, "sequence state: array '", name, "' has shape ", shape_text(a.shape), ", expected ",
                    shape_text(shape));
    return a;
  }
  /// Rows of element type T (float, bf16, f16) with `shape`, every value checked finite (a
  /// stored key or value is never inf or NaN; a file that says otherwise was altered).
  template <class T>
  const T* get_rows(const std::string& name, const std::vector<std::int64_t>& shape) const {
    const array& a = get(name, std::string(type_name<T>()), shape);
    const T* rows = reinterpret_cast<const T*>(a.bytes.data());
    require_finite(name, rows, a.bytes.size() / sizeof(T));
    return rows;
  }
  /// Throws naming `name` and the element when one of values[0, count) is inf or NaN.
  template <class T>
  static void require_finite(const std::string& name, const T* values, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      const float x = to_float(values[i]);
      detail::require(x - x == 0.0f, "sequence state: array '", name, "' element ", i, " is ", x, ", not a finite value");
    }
  }
  /// `count` integers from the I64 array `name`.
  std::vector<std::int64_t> get_ints(const std::string& name, std::size_t count) const {
    const array& a = get(name, "I64", {std::int64_t(count)});
    std::vector<std::int64_t> v(count);
    if (count > 0) std::memcpy(v.data(), a.bytes.data(), count * sizeof(std::int64_t));
    return v;
  }
  /// The integers of `name` checked to lie in [lo, hi], naming the field when one does not.
  std::vector<std::size_t> get_counts(const std::string& name, const std::vector<const char*>& fields,
                                      std::size_t hi) const {
    const std::vector<std::int64_t> v = get_ints(name, fields.size());
    std::vector<std::size_t> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      detail::require(v[i] >= 0 && std::uint64_t(v[i]) <= hi, "sequence state: ", name, ".", fields[i], " = ", v[i],
                      " is out of range [0, ", hi, "]");
      out[i] = std::size_t(v[i]);
    }
    return out;
  }

  const std::map<std::string, array>& arrays() const { return arrays_; }
  std::map<std::string, array>& arrays() { return arrays_; }

  /// The safetensors dtype name of T.
  template <class T>
  static constexpr const char* type_name() {
    if constexpr (std::is_same_v<T, float>) return "F32";
    else if constexpr (std::is_same_v<T, bf16>) return "BF16";
    else if constexpr (std::is_same_v<T, f16>) return "F16";
    else if constexpr (std::is_same_v<T, std::uint8_t>) return "U8";
    else static_assert(sizeof(T) == 0, "no state dtype for this type");
  }

 private:
  static std::string shape_text(const std::vector<std::int64_t>& s) {
    std::string t = "[";
    for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
  }
  std::map<std::string, array> arrays_;
};

}  // namespace kvc
