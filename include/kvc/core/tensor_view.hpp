// Non-owning strided tensor views that know their memory: typed (tensor_view<T, Rank>) and dtype-erased (dyn_view3).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "kvc/core/dtype.hpp"
#include "kvc/core/error.hpp"
#include "kvc/core/memory_space.hpp"

namespace kvc {

/// A strided view of `Rank` dimensions over elements of type T. Strides count elements.
/// The library's tensors put the contiguous dimension last (head_dim), and shape comments
/// name the dimensions, e.g. `// [tokens, kv_heads, head_dim]`. `space()` says where the
/// elements live (host unless the view was made with `.in(memory_space::device)` or the
/// constructor's last argument); entry points check it.
template <class T, std::size_t Rank>
class tensor_view {
 public:
  using shape_type = std::array<std::size_t, Rank>;
  using stride_type = std::array<std::ptrdiff_t, Rank>;

  tensor_view() = default;
  /// Row-major contiguous view.
  tensor_view(T* data, shape_type shape, memory_space where = memory_space::host)
      : data_(data), shape_(shape), space_(where) {
    std::ptrdiff_t s = 1;
    for (std::size_t i = Rank; i-- > 0;) {
      strides_[i] = s;
      s *= std::ptrdiff_t(shape[i]);
    }
  }
  tensor_view(T* data, shape_type shape, stride_type strides, memory_space where = memory_space::host)
      : data_(data), shape_(shape), strides_(strides), space_(where) {}
  /// A view of const T from a view of T.
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  tensor_view(const tensor_view<U, Rank>& o)
      : data_(o.data()), shape_(o.shape()), strides_(o.strides()), space_(o.space()) {}

  /// The same view, marked as pointing into `where`.
  tensor_view in(memory_space where) const { return {data_, shape_, strides_, where}; }
  /// Indices [first, first + count) of the first dimension (the caller keeps them in range).
  tensor_view rows(std::size_t first, std::size_t count) const {
    shape_type s = shape_;
    s[0] = count;
    return {data_ + std::ptrdiff_t(first) * strides_[0], s, strides_, space_};
  }

  T* data() const { return data_; }
  memory_space space() const { return space_; }
  const shape_type& shape() const { return shape_; }
  const stride_type& strides() const { return strides_; }
  std::size_t extent(std::size_t i) const { return shape_[i]; }
  std::ptrdiff_t stride(std::size_t i) const { return strides_[i]; }
  std::size_t size() const {
    std::size_t n = 1;
    for (auto e : shape_) n *= e;
    return n;
  }

  template <class... I>
  T& operator()(I... idx) const {
    static_assert(sizeof...(I) == Rank, "one index per dimension");
    const std::size_t is[] = {std::size_t(idx)...};
    std::ptrdiff_t off = 0;
    for (std::size_t d = 0; d < Rank; ++d) off += std::ptrdiff_t(is[d]) * strides_[d];
    return data_[off];
  }
  /// Pointer to the innermost row at the leading indices (Rank-1 of them).
  template <class... I>
  T* row(I... idx) const {
    static_assert(sizeof...(I) == Rank - 1, "Rank-1 leading indices");
    const std::size_t is[] = {std::size_t(idx)...};
    std::ptrdiff_t off = 0;
    for (std::size_t d = 0; d + 1 < Rank; ++d) off += std::ptrdiff_t(is[d]) * strides_[d];
    return data_ + off;
  }

 private:
  T* data_ = nullptr;
  shape_type shape_{};
  stride_type strides_{};
  memory_space space_ = memory_space::host;
};

/// A read-only rank-3 view whose element type (f32, bf16, f16) is known at run time; the
/// innermost dimension is contiguous. This is how activations enter the cache:
/// q `[tokens, q_heads, head_dim]`, k and v `[tokens, kv_heads, head_dim]`.
struct dyn_view3 {
  const void* data = nullptr;
  dtype type = dtype::f32;
  std::array<std::size_t, 3> shape{};
  std::array<std::ptrdiff_t, 3> strides{};  // in elements; strides[2] must be 1
  memory_space space = memory_space::host;

  dyn_view3() = default;
  template <class T>
  dyn_view3(tensor_view<T, 3> v)  // NOLINT: implicit on purpose
      : data(v.data()), type(dtype_of<std::remove_const_t<T>>), shape(v.shape()), strides(v.strides()),
        space(v.space()) {
    static_assert(std::is_same_v<std::remove_const_t<T>, float> ||
                      std::is_same_v<std::remove_const_t<T>, bf16> ||
                      std::is_same_v<std::remove_const_t<T>, f16>,
                  "element type must be float, bf16 or f16");
  }

  std::size_t extent(std::size_t i) const { return shape[i]; }
  /// Bytes of one innermost row.
  std::size_t row_bytes() const { return shape[2] * dtype_size(type); }
  /// The innermost row at (i, h), as bytes.
  const unsigned char* row_ptr(std::size_t i, std::size_t h) const {
    return static_cast<const unsigned char*>(data) +
           (std::ptrdiff_t(i) * strides[0] + std::ptrdiff_t(h) * strides[1]) * std::ptrdiff_t(dtype_size(type));
  }
  /// Rows [first, first + count) of the first dimension (the caller keeps them in range).
  dyn_view3 rows(std::size_t first, std::size_t count) const {
    dyn_view3 d = *this;
    d.data = static_cast<const unsigned char*>(data) + std::ptrdiff_t(first) * strides[0] * std::ptrdiff_t(dtype_size(type));
    d.shape[0] = count;
    return d;
  }
  /// The same view, marked as pointing into `where`.
  dyn_view3 in(memory_space where) const {
    dyn_view3 d = *this;
    d.space = where;
    return d;
  }
  /// Typed view; throws kvc::error if T is not the stored type.
  template <class T>
  tensor_view<const T, 3> as() const {
    detail::require(dtype_of<T> == type, "view holds ", dtype_name(type), ", asked for ",
                    dtype_name(dtype_of<T>));
    return {static_cast<const T*>(data), shape, strides, space};
  }
};

namespace detail {
/// Checks a view's shape against the expected extents and a contiguous last dimension;
/// `what` names the argument in the error message.
template <class View>
void check_shape(const View& v, const std::array<std::size_t, 3>& expect, const char* what,
                 const char* dims) {
  for (std::size_t i = 0; i < 3; ++i)
    require(v.extent(i) == expect[i], what, ": expected shape ", dims, " = [", expect[0], ", ",
            expect[1], ", ", expect[2], "], got [", v.extent(0), ", ", v.extent(1), ", ",
            v.extent(2), "]");
}
}  // namespace detail

}  // namespace kvc
