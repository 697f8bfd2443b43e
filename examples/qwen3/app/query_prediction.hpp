// TailorKV next-layer query prediction on the Qwen3 model: the predictors, post-RoPE capture of a
// forward pass's queries and keys, and how often predicted dominant channels match the true ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "model/model.hpp"

namespace kvc::qwen3 {

/// Which hidden state the next-layer query is predicted from (both feed layer l's q_proj,
/// q_norm and RoPE at the current position; neither reads layer l's own input).
enum class query_predictor {
  /// model.cpp's hook (model::set_query_prediction): layer l−1's input x_{l−1}, normalised with
  /// layer l's input RMSNorm weights.
  next_layer_norm,
  /// TailorKV's official code: layer l−1's own normalised input RMSNorm_{l−1}(x_{l−1}).
  own_layer_norm,
};

/// The query predicted for `layer` (>= 1) from `hidden` // [hidden_size], layer l−1's input
/// (x_{l−1} for next_layer_norm, RMSNorm_{l−1}(x_{l−1}) for own_layer_norm), at `position`.
/// Returns // [q_heads, head_dim], after q_norm (Qwen3) and RoPE.
std::vector<float> predict_query(const model& m, int layer, std::span<const float> hidden, std::int32_t position,
                                 query_predictor how);

/// Every layer's queries and keys of one forward pass as the cache receives them (post-norm,
/// post-RoPE), captured through the model's observer: q[l] // [n, q_heads·head_dim] (only the
/// last `keep_queries` rows kept, earlier ones dropped), k[l] // [n, kv_heads·head_dim].
struct attention_capture {
  std::vector<std::vector<float>> q, k;
  std::vector<std::size_t> q_rows;  // rows kept in q[l]
};
/// Runs `tokens` through `m` on `cache` (positions continue from cache.size(0)) and captures
/// them; returns the logits of `mode` as model::forward does.
std::vector<float> forward_capture(const model& m, std::span<const std::int32_t> tokens, kvc::kv_cache& cache,
                                   logits_mode mode, std::size_t keep_queries, attention_capture& out);

/// Agreement of predicted and true dominant channels (TailorKV Stage 1, tailorkv.md §3.3): per
/// decode step, layer l >= 1 and KV head, the top-`channels` channels by
/// |Σ_{heads of the group} q_c| · max_t |K_{t,c}| (max over the prompt's post-RoPE keys of layer
/// l), for the predicted query and for the true one; agreement = |overlap| / channels.
struct channel_agreement {
  int channels = 0, head_dim = 0;
  std::size_t steps = 0;
  std::vector<double> next_layer_norm;  // [layers] mean agreement (layer 0: none, NaN)
  std::vector<double> own_layer_norm;   // [layers]
  std::vector<double> keys_only;        // [layers] channels chosen by max|K| alone (no query)
  std::vector<double> cosine_next;      // [layers] mean cosine(predicted, true) per query head
  double chance() const { return double(channels) / double(head_dim); }
};

/// Prefills `prompt` on a full:f32 cache, then decodes `steps` greedy tokens and compares, at
/// each step, the predictors above against the true queries.
channel_agreement measure_channel_agreement(const model& m, std::span<const std::int32_t> prompt, std::size_t steps,
                                            int channels);

}  // namespace kvc::qwen3
