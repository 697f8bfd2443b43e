// Decoder forward pass: embeddings, pre-norm attention (q/k norm, RoPE, kv_cache) and SwiGLU MLP.
#include "model/model.hpp"

#include <algorithm>

#include "kvc/core/error.hpp"
#include "kvc/io/resolve_plan.hpp"
#include "model/layers.hpp"
#include "model/matmul.hpp"

namespace kvc::qwen3 {
namespace {

using mat = tensor_view<float, 2>;

/// A [rows, cols] f32 buffer.
struct buffer {
  std::vector<float> data;
  std::size_t rows = 0, cols = 0;
  buffer(std::size_t r, std::size_t c) : data(r * c), rows(r), cols(c) {}
  mat view() { return {data.data(), {rows, cols}}; }
  tensor_view<const float, 2> cview() const { return {data.data(), {rows, cols}}; }
  tensor_view<float, 3> heads(std::size_t d) { return {data.data(), {rows, cols / d, d}}; }
};

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
  const auto start = std::int32_t(cache.size(0));
  std::vector<std::int32_t> positions(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) positions[i] = start + std::int32_t(i);
  return forward(tokens, positions, cache, mode, observe);
}

std::vector<float> model::forward(std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions,
                                  kvc::kv_cache& cache, logits_mode mode, const observer& observe) const {
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
  if (n == 0) return {};

  const std::size_t H = std::size_t(c.hidden_size), D = std::size_t(c.head_dim);
  const std::size_t Q = std::size_t(c.q_width()), KV = std::size_t(c.kv_width());
  const std::size_t I = std::size_t(c.intermediate_size);
  const float eps = float(c.rms_norm_eps);
  auto emit = [&](std::string_view name, int layer, const buffer& b) {
    if (observe) observe(name, layer, b.cview());
  };

  buffer x(n, H), h(n, H), q(n, Q), k(n, KV), v(n, KV), attn(n, Q), o(n, H), gate(n, I), up(n, I);
  for (std::size_t i = 0; i < n; ++i) weights_.embed.row_to_float(tokens[i], x.view().row(i));

  buffer predicted(predict_queries_ && n == 1 ? 1 : 0, Q);
  for (int l = 0; l < c.num_layers; ++l) {
    const auto& L = weights_.layers[std::size_t(l)];
    if (predicted.rows == 1 && l + 1 < c.num_layers) {  // the next layer's query, from this layer's input
      const auto& next = weights_.layers[std::size_t(l) + 1];
      rms_norm(x.cview(), next.input_norm, eps, h.view());
      matmul(next.q_proj, h.cview(), predicted.view());
      if (c.has_qk_norm())
        rms_norm(tensor_view<const float, 2>(predicted.data.data(), {Q / D, D}), next.q_norm, eps,
                 mat(predicted.data.data(), {Q / D, D}));
      rope_.apply(predicted.heads(D), positions);
      cache.prefetch_hint(l + 1, tensor_view<const float, 3>(predicted.heads(D)));
    }
    // attention block
    rms_norm(x.cview(), L.input_norm, eps, h.view());
    emit("input_layernorm", l, h);
    matmul(L.q_proj, h.cview(), q.view());
    matmul(L.k_proj, h.cview(), k.view());
    matmul(L.v_proj, h.cview(), v.view());
    emit("q_proj", l, q);
    emit("k_proj", l, k);
    emit("v_proj", l, v);
    if (c.has_qk_norm()) {
      rms_norm(tensor_view<const float, 2>(q.data.data(), {n * Q / D, D}), L.q_norm, eps,
               mat(q.data.data(), {n * Q / D, D}));
      rms_norm(tensor_view<const float, 2>(k.data.data(), {n * KV / D, D}), L.k_norm, eps,
               mat(k.data.data(), {n * KV / D, D}));
      emit("q_norm", l, q);
      emit("k_norm", l, k);
    }
    rope_.apply(q.heads(D), positions);
    rope_.apply(k.heads(D), positions);
    cache.append_and_attend(l, tensor_view<const float, 3>(q.heads(D)), tensor_view<const float, 3>(k.heads(D)),
                            tensor_view<const float, 3>(v.heads(D)), attn.heads(D));
    emit("attn_out", l, attn);
    matmul(L.o_proj, attn.cview(), o.view());
    emit("o_proj", l, o);
    add_in_place(x.view(), o.cview());
    // MLP block
    rms_norm(x.cview(), L.post_norm, eps, h.view());
    emit("post_attention_layernorm", l, h);
    matmul(L.gate_proj, h.cview(), gate.view());
    matmul(L.up_proj, h.cview(), up.view());
    swiglu(gate.view(), up.cview());
    matmul(L.down_proj, gate.cview(), o.view());
    emit("mlp", l, o);
    add_in_place(x.view(), o.cview());
    emit("residual", l, x);
  }

  rms_norm(x.cview(), weights_.final_norm, eps, h.view());
  emit("final_norm", -1, h);
  if (mode == logits_mode::none) return {};
  const std::size_t rows = mode == logits_mode::all ? n : 1;
  buffer logits(rows, std::size_t(c.vocab_size));
  const tensor_view<const float, 2> last(h.data.data() + (n - rows) * H, {rows, H});
  matmul(weights_.lm_head, last, logits.view());
  emit("logits", -1, logits);
  return std::move(logits.data);
}

}  // namespace kvc::qwen3
