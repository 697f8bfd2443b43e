// Records the q, k, v each layer hands the KV cache (after q/k norm and RoPE) into a kv_trace.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kvc/io/kv_trace.hpp"
#include "model/model.hpp"

namespace kvc::qwen3 {

/// Collects a trace across forward calls: pass observer(positions) as the `observe` argument of
/// model::forward with the same positions the call uses. Queries and keys are taken from the
/// observer's pre-RoPE intermediates (q_norm / k_norm for Qwen3, q_proj / k_proj for Llama) and
/// rotated with the model's own rope table, so they equal what the cache receives.
class kv_recorder {
 public:
  explicit kv_recorder(const model& m);
  /// An observer for one forward call over `positions` // [n]; valid while positions is.
  observer for_call(std::span<const std::int32_t> positions);
  /// The trace so far.
  const kvc::io::kv_trace& trace() const { return trace_; }
  kvc::io::kv_trace& trace() { return trace_; }

 private:
  const model& model_;
  kvc::io::kv_trace trace_;
};

/// Runs `prompt` // [n] through a fresh `cache` (chunks of `prefill_chunk`), then decodes
/// `new_tokens` greedily, recording every layer's cache inputs. Returns the generated ids; the
/// trace holds n + new_tokens - 1 tokens (the last generated token is never fed).
std::vector<std::int32_t> record_greedy(const model& m, kvc::kv_cache& cache, std::span<const std::int32_t> prompt,
                                        int new_tokens, std::size_t prefill_chunk, kv_recorder& recorder);

}  // namespace kvc::qwen3
