// Read-only, zero-copy safetensors reader (mmap) with full header validation, and HF checkpoints
// made of one file or a sharded `model.safetensors.index.json`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvc/core/dtype.hpp"
#include "kvc/core/error.hpp"

namespace kvc::io {

/// Largest header the reader accepts (same limit as the reference Rust implementation).
inline constexpr std::uint64_t max_safetensors_header_bytes = 100'000'000;

/// One tensor as described by a safetensors header.
struct tensor_info {
  std::string name;
  /// kvc element type; meaningful only when supported() (BF16, F16, F32). For other
  /// safetensors dtypes it is dtype::f32 and must not be used: check supported() or use
  /// tensor_ref::type(), which throws naming the tensor and its dtype.
  kvc::dtype type = kvc::dtype::f32;
  /// The raw safetensors dtype string ("BF16", "F32", "I8", "F8_E4M3", ...).
  std::string dtype_name;
  /// Bits per element of dtype_name (4 for F4, 6 for F6_*, 8 to 64 otherwise).
  std::uint32_t element_bits = 0;
  /// Row-major (C order) shape; empty for a rank-0 (scalar) tensor.
  std::vector<std::int64_t> shape;
  /// Byte offsets [begin, end) relative to the start of the data buffer.
  std::uint64_t begin = 0, end = 0;

  /// True when the dtype is one of kvc's (BF16, F16, F32).
  bool supported() const noexcept;
  /// Number of elements (1 for rank 0, 0 when any dimension is 0).
  std::int64_t numel() const noexcept;
  /// end - begin.
  std::uint64_t bytes() const noexcept { return end - begin; }
};

/// A parsed and validated safetensors header.
struct safetensors_header {
  std::vector<tensor_info> tensors;  ///< sorted by name
  std::map<std::string, std::string> metadata;  ///< the optional "__metadata__" map
  std::uint64_t header_bytes = 0;  ///< N, the JSON header length (0 when parsed from JSON only)
  std::uint64_t data_offset = 0;   ///< 8 + N: where the data buffer starts in the file
};

/// The safetensors dtype string of a kvc dtype: "F32", "BF16", "F16".
std::string_view safetensors_dtype_name(kvc::dtype t) noexcept;

/// Bits per element of a safetensors dtype string (all of BOOL, F4, F6_E2M3, F6_E3M2, U8, I8,
/// F8_*, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64), or nullopt when unknown.
std::optional<std::uint32_t> safetensors_dtype_bits(std::string_view name) noexcept;

/// Parses and validates a safetensors JSON header against the size of the data buffer.
/// Checks: an object starting with '{' (trailing whitespace allowed), no duplicate keys, each
/// entry an object with "dtype" (known string), "shape" (array of non-negative integers),
/// "data_offsets" (two unsigned integers, begin <= end <= data_bytes), size == numel x element
/// size (overflow-checked), offsets tiling the whole data buffer with no holes or overlaps, and
/// "__metadata__" a string -> string map. Throws kvc::error whose message starts with `source`
/// and names the tensor/field and the problem.
std::vector<tensor_info> parse_safetensors_header(std::string_view header_json,
                                                  std::uint64_t data_bytes,
                                                  std::string_view source = "safetensors header");

/// Same as parse_safetensors_header, also returning the metadata.
safetensors_header parse_safetensors_header_full(std::string_view header_json,
                                                 std::uint64_t data_bytes,
                                                 std::string_view source = "safetensors header");

/// Parses a whole safetensors file held in memory: the 8-byte little-endian header length N
/// (N <= max_safetensors_header_bytes, 8 + N <= size), then the header, validated against the
/// remaining size - 8 - N data bytes. Throws kvc::error prefixed with `source`.
safetensors_header parse_safetensors_bytes(std::span<const std::byte> file_bytes,
                                           std::string_view source = "<memory>");

/// A tensor's description and its bytes inside a mapped file (zero copy; valid while the owning
/// safetensors_file / checkpoint lives).
struct tensor_ref {
  const tensor_info* info = nullptr;
  const std::byte* data = nullptr;
  /// The file the tensor lives in (for error messages); may be empty.
  std::string_view file;

  /// Size of the data in bytes.
  std::size_t bytes() const noexcept { return std::size_t(info->bytes()); }
  /// Number of elements.
  std::int64_t numel() const noexcept { return info->numel(); }
  /// The kvc dtype; throws kvc::error naming the tensor and its dtype when it is not one of
  /// BF16, F16, F32.
  kvc::dtype type() const;
  /// The data as elements of T (float, kvc::bf16 or kvc::f16) // [numel] row-major.
  /// Throws kvc::error when the dtype is unsupported, differs from T, or the data is not
  /// aligned for T inside the file.
  template <class T>
  std::span<const T> as() const {
    check_as(kvc::dtype_of<T>, alignof(T));
    return {reinterpret_cast<const T*>(data), std::size_t(numel())};
  }
  /// Copies the data converted to float (bf16/f16/f32; any alignment) // [numel] row-major.
  std::vector<float> to_float() const;

 private:
  void check_as(kvc::dtype want, std::size_t align) const;
};

/// One safetensors file, mapped read-only. Move-only; unmaps in the destructor.
class safetensors_file {
 public:
  /// Maps `path` and validates it; throws kvc::error naming the file and the problem.
  static safetensors_file open(const std::filesystem::path& path);

  safetensors_file(safetensors_file&& other) noexcept;
  safetensors_file& operator=(safetensors_file&& other) noexcept;
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;
  ~safetensors_file();

  /// All tensors, sorted by name.
  const std::vector<tensor_info>& tensors() const noexcept;
  /// The tensor called `name`, or nullptr.
  const tensor_info* find(std::string_view name) const;
  /// The tensor called `name` with its data; throws naming the missing tensor and the file.
  tensor_ref at(std::string_view name) const;
  /// The data of a tensor of this file.
  tensor_ref ref(const tensor_info& info) const noexcept;
  /// The "__metadata__" map (empty when absent).
  std::map<std::string, std::string> metadata() const;
  /// The path the file was opened from.
  const std::filesystem::path& path() const noexcept;
  /// Size of the whole file in bytes.
  std::size_t file_bytes() const noexcept;

 private:
  struct state;  // mapping + parsed header; heap-held so tensor_refs survive moves
  explicit safetensors_file(std::unique_ptr<state> s) noexcept;
  std::unique_ptr<state> state_;
};

/// A Hugging Face checkpoint's weights: a directory with `model.safetensors.index.json` and its
/// shards, or with a single `model.safetensors`; or a path to one `.safetensors` file or to an
/// `.index.json`. Move-only.
class checkpoint {
 public:
  /// Opens and validates every file. For an index: "weight_map" must be a string -> string
  /// object naming plain shard files that exist beside it, every tensor listed must be found in
  /// its shard, and no tensor may appear in two shards. Throws kvc::error naming the problem.
  static checkpoint open(const std::filesystem::path& dir_or_file);

  /// The tensor called `name`, if any.
  std::optional<tensor_ref> find(std::string_view name) const;
  /// The tensor called `name`; throws kvc::error naming the tensor and the checkpoint path.
  tensor_ref at(std::string_view name) const;
  /// All tensor names, sorted.
  std::vector<std::string> names() const;
  /// The opened files (one per shard).
  const std::vector<safetensors_file>& files() const noexcept { return files_; }
  /// The path given to open().
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  checkpoint() = default;

  std::filesystem::path path_;
  std::vector<safetensors_file> files_;
  /// name -> (file index, tensor index)
  std::map<std::string, std::pair<std::size_t, std::size_t>, std::less<>> index_;
};

}  // namespace kvc::io
