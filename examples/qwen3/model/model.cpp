// Decoder forward pass: embeddings, pre-norm attention (q/k norm, RoPE, kv_cache; one sequence or a
// varlen batch) and SwiGLU MLP.
#include "model/model.hpp"

#include <algorithm>

#include "kvc/core/error.hpp"
#include "kvc/io/resolve_plan.hpp"
#include "model/layers.hpp"
#include "model/matmul.hpp"

namespace kvc::qwen3 {
namespace {

using cmat = tensor_view<const float, 2>;
using cheads = tensor_view<const float, 3>;

/// Hands `value` // [tokens, width] to the observer, if there is one.
void emit(const observer& observe, std::string_view name, int layer, cmat value) {
  if (observe) observe(name, layer, value);
}

}  // namespace

model model::load(const std::filesystem::path& dir) {
  auto config = model_config::load(dir);
  auto ckpt = std::make_shared<const kvc::io::checkpoint>(kvc::io::checkpoint::open(dir));
  return model(std::move(config), std::move(ckpt));
}

model::model(model_config config, std::shared_ptr<const kvc::io::checkpoint> checkpoint)
    : config_(std::move(config)),
      weights_(model_weights::bind(std::move(checkpoint), config_)),
      rope_(config_.rope, config_.head_dim) {
  attention_shape().validate();
}

kvc::kv_cache model::make_cache(std::string_view spec) const {
  return kvc::kv_cache(kvc::io::resolve_plan(spec, config_.num_layers), attention_shape());
}

std::vector<float> model::forward(std::span<const std::int32_t> tokens, kvc::kv_cache& cache,
                                  logits_mode mode, const observer& observe) const {
  scratch_.prepare(config_, tokens.size());
  const std::span<std::int32_t> positions(scratch_.positions.data(), tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) positions[i] = std::int32_t(cache.size(0) + i);
  return forward(tokens, positions, cache, mode, observe);
}

std::vector<float> model::forward(std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions,
                                  kvc::kv_cache& cache, logits_mode mode, const observer& observe) const {
  check_inputs(tokens, positions, cache);
  const std::size_t n = tokens.size();
  if (n == 0) return {};
  const kvc::seq_run run{kvc::default_seq, n};
  run_layers(tokens, positions, {&run, 1}, cache, observe);
  if (mode == logits_mode::none) return {};
  const std::size_t rows = mode == logits_mode::all ? n : 1;
  return lm_head_rows(n - rows, rows, observe);
}

std::vector<float> model::forward_batch(std::span<const std::int32_t> tokens, std::span<const kvc::seq_run> runs,
                                        kvc::kv_cache& cache, const observer& observe) const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    kvc::detail::require(runs[i].tokens > 0, "forward_batch: run ", i, " (sequence ", kvc::to_string(runs[i].seq),
                         ") has no tokens");
    n += runs[i].tokens;
  }
  kvc::detail::require(n == tokens.size(), "forward_batch: the runs hold ", n, " tokens, ", tokens.size(),
                       " were given");
  if (n == 0) return {};
  scratch_.prepare(config_, n);
  const std::span<std::int32_t> positions(scratch_.positions.data(), n);
  std::size_t row = 0;
  for (const kvc::seq_run& r : runs) {
    const std::size_t held = cache.size(0, r.seq);
    for (std::size_t i = 0; i < r.tokens; ++i) positions[row++] = std::int32_t(held + i);
  }
  check_inputs(tokens, positions, cache);
  run_layers(tokens, positions, runs, cache, observe);
  // Move each run's last row up to row i (its last row is at or below i, and rows above it are
  // no longer needed), so lm_head reads the first runs.size() rows.
  const tensor_view<float, 2> h = scratch_.h.view(n);
  std::size_t last = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    last += runs[i].tokens;
    if (last - 1 != i) std::copy_n(h.row(last - 1), h.extent(1), h.row(i));
  }
  return lm_head_rows(0, runs.size(), observe);
}

void model::run_layers(std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions,
                       std::span<const kvc::seq_run> runs, kvc::kv_cache& cache, const observer& observe) const {
  const std::size_t n = tokens.size();
  activations& a = scratch_;
  a.prepare(config_, n);
  for (std::size_t i = 0; i < n; ++i) weights_.embed.row_to_float(tokens[i], a.x.view(n).row(i));

  // The hint goes to the default sequence (kv_cache::prefetch_hint has no sequence argument).
  const bool predict = predict_queries_ && n == 1 && runs.size() == 1 && runs[0].seq == kvc::default_seq;
  for (int l = 0; l < config_.num_layers; ++l) {
    if (predict && l + 1 < config_.num_layers) predict_next_query(l, positions, cache, a);
    attention_block(l, positions, runs, cache, a, observe);
    mlp_block(l, a, observe);
    emit(observe, "residual", l, a.x.view(n));
  }

  rms_norm(a.x.view(n), weights_.final_norm, float(config_.rms_norm_eps), a.h.view(n));
  emit(observe, "final_norm", -1, a.h.view(n));
}

std::vector<float> model::lm_head_rows(std::size_t first, std::size_t rows, const observer& observe) const {
  const activations& a = scratch_;
  std::vector<float> logits(rows * std::size_t(config_.vocab_size));
  const cmat in(a.h.view(first + rows).row(first), {rows, a.h.cols()});
  const tensor_view<float, 2> out(logits.data(), {rows, std::size_t(config_.vocab_size)});
  matmul(weights_.lm_head, in, out);
  emit(observe, "logits", -1, out);
  return logits;
}

void model::check_inputs(std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions,
                         const kvc::kv_cache& cache) const {
  const auto& c = config_;
  const std::size_t n = tokens.size();
  kvc::detail::require(positions.size() == n, "forward: ", positions.size(), " positions for ", n, " tokens");
  kvc::detail::require(cache.layers() == c.num_layers, "forward: cache has ", cache.layers(),
                       " layers, the model ", c.num_layers);
  kvc::detail::require(cache.shape().q_heads == c.num_heads && cache.shape().kv_heads == c.num_kv_heads &&
                           cache.shape().head_dim == c.head_dim,
                       "forward: cache head layout [", cache.shape().q_heads, ", ", cache.shape().kv_heads,
                       ", ", cache.shape().head_dim, "] differs from the model's [", c.num_heads, ", ",
                       c.num_kv_heads, ", ", c.head_dim, "]");
  for (std::size_t i = 0; i < n; ++i)
    kvc::detail::require(tokens[i] >= 0 && tokens[i] < c.vocab_size, "forward: token id ", tokens[i],
                         " at index ", i, " is outside the vocabulary [0, ", c.vocab_size, ")");
}

void model::attention_block(int l, std::span<const std::int32_t> positions, std::span<const kvc::seq_run> runs,
                            kvc::kv_cache& cache, activations& a, const observer& observe) const {
  const auto& L = weights_.layers[std::size_t(l)];
  const std::size_t n = a.rows, D = std::size_t(config_.head_dim);
  const float eps = float(config_.rms_norm_eps);
  rms_norm(a.x.view(n), L.input_norm, eps, a.h.view(n));
  emit(observe, "input_layernorm", l, a.h.view(n));
  matmul(L.q_proj, a.h.view(n), a.q.view(n));
  matmul(L.k_proj, a.h.view(n), a.k.view(n));
  matmul(L.v_proj, a.h.view(n), a.v.view(n));
  emit(observe, "q_proj", l, a.q.view(n));
  emit(observe, "k_proj", l, a.k.view(n));
  emit(observe, "v_proj", l, a.v.view(n));
  if (config_.has_qk_norm()) {
    rms_norm_heads(a.q.view(n), D, L.q_norm, eps);
    rms_norm_heads(a.k.view(n), D, L.k_norm, eps);
    emit(observe, "q_norm", l, a.q.view(n));
    emit(observe, "k_norm", l, a.k.view(n));
  }
  rope_.apply(a.q.heads(n, D), positions);
  rope_.apply(a.k.heads(n, D), positions);
  const cheads q(a.q.heads(n, D)), k(a.k.heads(n, D)), v(a.v.heads(n, D));
  if (runs.size() == 1 && runs[0].seq == kvc::default_seq)
    cache.append_and_attend(l, q, k, v, a.attn.heads(n, D));  // one sequence: the policy's own step
  else
    cache.append_and_attend(l, runs, q, k, v, a.attn.heads(n, D));
  emit(observe, "attn_out", l, a.attn.view(n));
  matmul(L.o_proj, a.attn.view(n), a.o.view(n));
  emit(observe, "o_proj", l, a.o.view(n));
  add_in_place(a.x.view(n), a.o.view(n));
}

void model::mlp_block(int l, activations& a, const observer& observe) const {
  const auto& L = weights_.layers[std::size_t(l)];
  const std::size_t n = a.rows;
  rms_norm(a.x.view(n), L.post_norm, float(config_.rms_norm_eps), a.h.view(n));
  emit(observe, "post_attention_layernorm", l, a.h.view(n));
  matmul(L.gate_proj, a.h.view(n), a.gate.view(n));
  matmul(L.up_proj, a.h.view(n), a.up.view(n));
  swiglu(a.gate.view(n), a.up.view(n));
  matmul(L.down_proj, a.gate.view(n), a.o.view(n));
  emit(observe, "mlp", l, a.o.view(n));
  add_in_place(a.x.view(n), a.o.view(n));
}

void model::predict_next_query(int l, std::span<const std::int32_t> positions, kvc::kv_cache& cache,
                               activations& a) const {
  // Layer l+1's query from layer l's input x, normalised with layer l+1's input norm. It uses h,
  // which the attention block overwrites next.
  const auto& next = weights_.layers[std::size_t(l) + 1];
  rms_norm(a.x.view(1), next.input_norm, float(config_.rms_norm_eps), a.h.view(1));
  project_query(l + 1, a.h.view(1), positions, a.predicted.view(1));
  cache.prefetch_hint(l + 1, cheads(a.predicted.heads(1, std::size_t(config_.head_dim))));
}

void model::project_query(int layer, tensor_view<const float, 2> h, std::span<const std::int32_t> positions,
                          tensor_view<float, 2> q) const {
  kvc::detail::require(layer >= 0 && layer < config_.num_layers, "project_query: layer ", layer,
                       " out of range [0, ", config_.num_layers, ")");
  const auto& L = weights_.layers[std::size_t(layer)];
  const std::size_t D = std::size_t(config_.head_dim);
  matmul(L.q_proj, h, q);
  if (config_.has_qk_norm()) rms_norm_heads(q, D, L.q_norm, float(config_.rms_norm_eps));
  rope_.apply(tensor_view<float, 3>(q.data(), {q.extent(0), q.extent(1) / D, D}), positions);
}

}  // namespace kvc::qwen3
