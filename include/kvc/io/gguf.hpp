// Read-only GGUF reader (llama.cpp's model format): validated header, metadata, tensor infos,
// mmap'ed data, and scalar dequantization of the common ggml block types to f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/core/error.hpp"

namespace kvc::io {

/// GGUF metadata value types (the numbering of the GGUF spec).
enum class gguf_value_type : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8,
  array = 9, u64 = 10, i64 = 11, f64 = 12,
};

/// Name of a value type ("u32", "string", ...), "?" when unknown.
std::string_view gguf_value_type_name(gguf_value_type t) noexcept;

/// One metadata value. Scalars keep their type; integers are held widened (`u` for unsigned and
/// bool, `i` for signed), floats as double; arrays hold their elements (all of `element_type`).
struct gguf_value {
  gguf_value_type type = gguf_value_type::u8;
  std::uint64_t u = 0;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  gguf_value_type element_type = gguf_value_type::u8;  // arrays only
  std::vector<gguf_value> items;                       // arrays only

  bool is_integer() const noexcept;
  /// The value as an integer of any integer type (and bool); throws kvc::error naming `what`
  /// when it is not an integer or (for signed values) negative.
  std::uint64_t to_uint(std::string_view what = "value") const;
  /// The value as a signed integer; throws when not an integer or out of int64 range.
  std::int64_t to_int(std::string_view what = "value") const;
  /// The value as a float (f32, f64 or any integer); throws otherwise.
  double to_double(std::string_view what = "value") const;
  /// The value of a bool; throws otherwise.
  bool to_bool(std::string_view what = "value") const;
  /// The string; throws when not a string.
  const std::string& to_string(std::string_view what = "value") const;
};

/// ggml tensor types as numbered in ggml.h (those a GGUF file may carry).
enum class ggml_type : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9, q2_k = 10,
  q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15, iq2_xxs = 16, iq2_xs = 17,
  iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23, i8 = 24,
  i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35,
  mxfp4 = 39,
};

/// Block layout of a ggml type: `block_size` elements are stored in `block_bytes` bytes.
struct ggml_type_traits {
  std::string_view name;  // "Q4_K", "F32", ...
  std::uint32_t block_size = 0;
  std::uint32_t block_bytes = 0;
  bool dequantizable = false;  // dequantize_row supports it
};

/// Traits of a raw type number, or nullopt when the number is not a known ggml type.
std::optional<ggml_type_traits> ggml_traits(std::uint32_t type) noexcept;

/// One tensor as described by a GGUF header.
struct gguf_tensor_info {
  std::string name;
  ggml_type type = ggml_type::f32;
  /// ggml order: dims[0] is the fastest-varying (contiguous) dimension.
  std::vector<std::uint64_t> dims;
  /// Byte offset relative to the start of the data section (aligned to the file's alignment).
  std::uint64_t offset = 0;
  /// Bytes of data (numel / block_size * block_bytes).
  std::uint64_t bytes = 0;

  /// Number of elements.
  std::uint64_t numel() const noexcept;
  /// Row-major (PyTorch / safetensors order) shape: dims reversed.
  std::vector<std::int64_t> shape() const;
};

/// A parsed and validated GGUF header.
struct gguf_header {
  std::uint32_t version = 0;
  /// Metadata in file order.
  std::vector<std::pair<std::string, gguf_value>> metadata;
  /// Tensors in file order.
  std::vector<gguf_tensor_info> tensors;
  /// general.alignment (32 when absent).
  std::uint64_t alignment = 32;
  /// Where the data section starts in the file.
  std::uint64_t data_offset = 0;

  /// The metadata value called `key`, or nullptr.
  const gguf_value* find(std::string_view key) const;
  /// The tensor called `name`, or nullptr.
  const gguf_tensor_info* find_tensor(std::string_view name) const;
};

/// Parses and validates a whole GGUF file held in memory. Checks: magic "GGUF", version 2 or 3,
/// counts and every string/array length bounded by the bytes left, known value types, array
/// nesting at most 4 deep, no duplicate keys or tensor names, `general.alignment` a u32 power
/// of two, tensors of 1..4 dimensions with known types, a first dimension that is a whole number
/// of blocks, no element-count overflow, offsets aligned, inside the data section and not
/// overlapping. Throws kvc::error whose message starts with `source` and names the field.
gguf_header parse_gguf_bytes(std::span<const std::byte> file_bytes, std::string_view source = "<memory>");

/// One GGUF file, mapped read-only. Move-only; unmaps in the destructor.
class gguf_file {
 public:
  /// Maps `path` and validates it (parse_gguf_bytes); throws kvc::error naming the file.
  static gguf_file open(const std::filesystem::path& path);

  gguf_file(gguf_file&& other) noexcept;
  gguf_file& operator=(gguf_file&& other) noexcept;
  gguf_file(const gguf_file&) = delete;
  gguf_file& operator=(const gguf_file&) = delete;
  ~gguf_file();

  const gguf_header& header() const noexcept;
  const std::vector<gguf_tensor_info>& tensors() const noexcept { return header().tensors; }
  /// The metadata value called `key`, or nullptr.
  const gguf_value* find(std::string_view key) const { return header().find(key); }
  /// The metadata value called `key`; throws naming the key and the file when absent.
  const gguf_value& at(std::string_view key) const;
  /// The tensor called `name`; throws naming the tensor and the file when absent.
  const gguf_tensor_info& tensor(std::string_view name) const;
  /// The raw bytes of a tensor of this file // [info.bytes]
  std::span<const std::byte> data(const gguf_tensor_info& info) const;
  /// A tensor dequantized to f32 // [numel] in row-major order (= ggml order flattened);
  /// throws naming the tensor when its type has no dequantizer.
  std::vector<float> to_float(const gguf_tensor_info& info) const;
  const std::filesystem::path& path() const noexcept;

 private:
  struct state;
  explicit gguf_file(std::unique_ptr<state> s) noexcept;
  std::unique_ptr<state> state_;
};

/// Dequantizes n elements (a multiple of the type's block size) of type `type` from `src`
/// (n / block_size blocks, any alignment) into dst // [n]. Supports F32, F16, BF16, F64, I8,
/// I16, I32, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K (scalar reference code, bit-exact with
/// ggml's dequantize_row_*). Throws kvc::error for other types or a partial block.
void dequantize_row(ggml_type type, const std::byte* src, float* dst, std::uint64_t n);

}  // namespace kvc::io
