// KV traces: the q, k, v an engine hands its KV cache, per layer, stored as safetensors so that
// policies can be evaluated offline on real activations (`kvc-bench compare --trace`).
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "kvc/core/dtype.hpp"
#include "kvc/core/layer_shape.hpp"

namespace kvc::io {

/// A recorded trace held in f32. File layout (safetensors): tensors `layer.N.q`
/// `[T, q_heads, head_dim]`, `layer.N.k` and `layer.N.v` `[T, kv_heads, head_dim]` (F32 or BF16)
/// for N in [0, layers); `__metadata__` with "format" = "kvc-kv-trace", "version" = "1",
/// "layers", "tokens", "q_heads", "kv_heads", "head_dim" (decimal) plus any user keys (e.g.
/// "model"). Queries and keys are as the cache sees them: after q/k norm and RoPE.
struct kv_trace {
  layer_shape shape{1, 1, 2};
  std::size_t tokens = 0;
  std::vector<std::vector<float>> q;  // [layers][T * q_heads * head_dim]
  std::vector<std::vector<float>> k;  // [layers][T * kv_heads * head_dim]
  std::vector<std::vector<float>> v;  // [layers][T * kv_heads * head_dim]
  std::map<std::string, std::string> metadata;  // user keys (the reserved ones are rewritten)

  int layers() const { return int(q.size()); }
  /// Throws kvc::error unless every layer holds exactly `tokens` rows of the shape.
  void validate() const;
};

/// Writes `trace` to `path`, elements stored as `storage` (f32 or bf16; f16 is rejected).
void write_kv_trace(const std::filesystem::path& path, const kv_trace& trace, kvc::dtype storage = kvc::dtype::f32);

/// Reads and validates a trace (format tag, every layer's three tensors with matching shapes
/// and dtypes F32/BF16, metadata agreeing with the tensors). Throws kvc::error naming the file
/// and the problem.
kv_trace read_kv_trace(const std::filesystem::path& path);

}  // namespace kvc::io
