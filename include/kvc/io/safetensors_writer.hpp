// Minimal safetensors writer (header padded to 8 bytes), used by tests and tools.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace kvc::io {

/// One tensor to write.
struct tensor_to_write {
  std::string name;
  /// safetensors dtype string: "BF16", "F16", "F32", "I8", ... (see safetensors_dtype_bits).
  std::string dtype;
  /// Row-major shape; empty for a rank-0 (scalar) tensor.
  std::vector<std::int64_t> shape;
  /// Raw little-endian element bytes // [numel * element size]
  std::span<const std::byte> data;
};

/// Writes `tensors` to `path` as a safetensors file: the 8-byte little-endian header length,
/// the JSON header padded with spaces to a multiple of 8 bytes, then the tensors' bytes back to
/// back in the given order. `metadata` (when not empty) is written as "__metadata__". Throws
/// kvc::error on an unknown dtype, a negative dimension, a data size that does not match the
/// shape, a duplicate or reserved name, or an I/O failure.
void write_safetensors(const std::filesystem::path& path, std::span<const tensor_to_write> tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// The bytes write_safetensors would write (same checks), for in-memory use.
std::vector<std::byte> serialize_safetensors(std::span<const tensor_to_write> tensors,
                                             const std::map<std::string, std::string>& metadata = {});

}  // namespace kvc::io
