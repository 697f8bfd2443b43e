// The Qwen3 / Llama decoder forward pass on CPU (one sequence, or a varlen batch of many); attention
// goes through kvc::kv_cache only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "kvc/cache.hpp"
#include "kvc/core/tensor_view.hpp"
#include "model/activations.hpp"
#include "model/config.hpp"
#include "model/rope.hpp"
#include "model/weights.hpp"

namespace kvc::qwen3 {

/// Called with each intermediate of a forward pass: `name` is one of input_layernorm, q_proj,
/// k_proj, v_proj, q_norm, k_norm (before RoPE; Qwen3 only), attn_out (before o_proj), o_proj,
/// post_attention_layernorm, mlp, residual (the layer's output) with `layer` >= 0, and
/// final_norm, logits with `layer` == -1. value // [tokens, width], valid during the call only.
using observer = std::function<void(std::string_view name, int layer, tensor_view<const float, 2> value)>;

/// Which logits forward() returns.
enum class logits_mode {
  all,   // one row per input token
  last,  // only the last token's row (generation)
  none,  // no lm_head product (prefill of a prompt whose logits are not needed)
};

/// A loaded model: config, weights (in the checkpoint's dtype, zero copy) and RoPE table.
/// Computes in f32 with f32 accumulation. Thread count follows OpenMP (omp_set_num_threads).
/// forward() and forward_batch() reuse one set of activation buffers, so a model runs one forward
/// call at a time.
class model {
 public:
  /// Loads `dir` (config.json + model.safetensors or model.safetensors.index.json and shards).
  /// Throws kvc::error naming the file and the field or tensor at fault.
  static model load(const std::filesystem::path& dir);
  /// Builds a model from an opened checkpoint and its config.
  model(model_config config, std::shared_ptr<const kvc::io::checkpoint> checkpoint);

  const model_config& config() const { return config_; }
  const model_weights& weights() const { return weights_; }
  const rope_table& rope() const { return rope_; }
  /// The head layout every layer of the cache must have.
  layer_shape attention_shape() const { return config_.attention_shape(); }
  /// A cache with `spec` (e.g. "full:bf16") on every layer; `plan:FILE` builds each
  /// layer from the plan file instead (kvc::io::resolve_plan).
  kvc::kv_cache make_cache(std::string_view spec) const;

  /// Runs tokens through the model, appending their keys and values to `cache`.
  /// tokens // [n]; positions // [n] (RoPE positions; the cache holds tokens in call order).
  /// Returns logits // [rows, vocab] with rows = n, 1 or 0 per `mode`.
  std::vector<float> forward(std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions,
                             kvc::kv_cache& cache, logits_mode mode = logits_mode::all,
                             const observer& observe = {}) const;
  /// Next-layer query prediction (TailorKV): during single-token decode, before layer l runs,
  /// apply layer l+1's input norm, q_proj, q_norm and RoPE to layer l's input and hand the
  /// result to cache.prefetch_hint(l + 1, q) // [1, q_heads, head_dim]. Costs one extra q_proj
  /// product per layer; off by default (policies without use for the hint ignore it).
  void set_query_prediction(bool on) { predict_queries_ = on; }
  bool query_prediction() const { return predict_queries_; }

  /// Same, with positions cache.size(0), cache.size(0) + 1, ...
  std::vector<float> forward(std::span<const std::int32_t> tokens, kvc::kv_cache& cache,
                             logits_mode mode = logits_mode::all, const observer& observe = {}) const;

  /// A varlen batch over many sequences of `cache`: run i's tokens are the next runs[i].tokens
  /// entries of `tokens` and are appended to sequence runs[i].seq (created if new), at RoPE
  /// positions cache.size(0, seq), +1, ...; each sequence attends only its own tokens. Every run
  /// has at least one token and a sequence appears once. One token per run is batched decode.
  /// tokens // [n], n = the runs' tokens summed. Returns logits // [runs.size(), vocab], the row
  /// of each run's last token. No query prediction (that is forward()'s single-token decode).
  std::vector<float> forward_batch(std::span<const std::int32_t> tokens, std::span<const kvc::seq_run> runs,
                                   kvc::kv_cache& cache, const observer& observe = {}) const;

  /// Layer `layer`'s queries as attention receives them, from hidden states already normalised:
  /// q_proj, q_norm (Qwen3) and RoPE. h // [n, hidden]; positions // [n];
  /// q // [n, q_heads·head_dim] (written).
  void project_query(int layer, tensor_view<const float, 2> h, std::span<const std::int32_t> positions,
                     tensor_view<float, 2> q) const;

 private:
  /// Throws kvc::error for positions, a cache layout or token ids that do not fit the model.
  void check_inputs(std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions,
                    const kvc::kv_cache& cache) const;
  /// Embeds tokens // [n] and runs every layer and the final norm over them: afterwards
  /// scratch_.h // [n, hidden] holds the final-norm output. The runs say which sequence each token
  /// goes to (one run on default_seq for forward()).
  void run_layers(std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions,
                  std::span<const kvc::seq_run> runs, kvc::kv_cache& cache, const observer& observe) const;
  /// lm_head over rows [first, first + rows) of scratch_.h; returns logits // [rows, vocab].
  std::vector<float> lm_head_rows(std::size_t first, std::size_t rows, const observer& observe) const;
  /// x += o_proj(attention(RoPE(qk_norm(qkv_proj(input_norm(x)))))) for layer l, through the cache;
  /// the rows of each run go to its sequence.
  void attention_block(int l, std::span<const std::int32_t> positions, std::span<const kvc::seq_run> runs,
                       kvc::kv_cache& cache, activations& a, const observer& observe) const;
  /// x += down_proj(swiglu(gate_proj(h), up_proj(h))), h = post_norm(x), for layer l.
  void mlp_block(int l, activations& a, const observer& observe) const;
  /// Hands cache.prefetch_hint(l + 1, q) layer l+1's query predicted from layer l's input (decode).
  void predict_next_query(int l, std::span<const std::int32_t> positions, kvc::kv_cache& cache,
                          activations& a) const;

  model_config config_;
  model_weights weights_;
  rope_table rope_;
  bool predict_queries_ = false;
  mutable activations scratch_;  // forward()'s buffers, kept between calls
};

}  // namespace kvc::qwen3
