// Tensor binding for Qwen3 / Llama checkpoints: names, shapes, dtypes and alignment checks.
#include "model/weights.hpp"

#include <cstring>
#include <set>
#include <sstream>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {

struct weight_binder {
  const kvc::io::checkpoint& ckpt;
  model_weights& out;
  std::set<std::string> used;

  std::string where() const { return ckpt.path().string(); }

  static std::string shape_text(const std::vector<std::int64_t>& s) {
    std::ostringstream os;
    os << '[';
    for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
    os << ']';
    return os.str();
  }

  kvc::io::tensor_ref get(const std::string& name, const std::vector<std::int64_t>& shape) {
    const auto ref = ckpt.find(name);
    kvc::detail::require(ref.has_value(), where(), ": missing tensor '", name, "' (expected shape ",
                         shape_text(shape), ")");
    kvc::detail::require(ref->info->shape == shape, where(), ": tensor '", name, "' has shape ",
                         shape_text(ref->info->shape), ", the config implies ", shape_text(shape));
    kvc::detail::require(ref->info->supported(), where(), ": tensor '", name, "' has dtype ",
                         ref->info->dtype_name, " (supported: F32, BF16, F16)");
    used.insert(name);
    return *ref;
  }

  const void* aligned(const kvc::io::tensor_ref& ref) {
    const std::size_t align = kvc::dtype_size(ref.type());
    if (reinterpret_cast<std::uintptr_t>(ref.data) % align == 0) return ref.data;
    auto copy = std::make_unique<std::byte[]>(ref.bytes());
    std::memcpy(copy.get(), ref.data, ref.bytes());
    out.realigned_.push_back(std::move(copy));
    return out.realigned_.back().get();
  }

  weight_matrix matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const auto ref = get(name, {rows, cols});
    return {ref.type(), aligned(ref), rows, cols};
  }
  std::vector<float> vec(const std::string& name, std::int64_t n) { return get(name, {n}).to_float(); }
};

model_weights model_weights::bind(std::shared_ptr<const kvc::io::checkpoint> ckpt, const model_config& c) {
  kvc::detail::require(ckpt != nullptr, "model_weights::bind: no checkpoint");
  model_weights w;
  w.source = ckpt;
  weight_binder b{*ckpt, w, {}};
  const std::int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
  const std::int64_t Q = c.q_width(), KV = c.kv_width(), D = c.head_dim;
  w.embed = b.matrix("model.embed_tokens.weight", V, H);
  w.final_norm = b.vec("model.norm.weight", H);
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
    if (ckpt->find("lm_head.weight")) b.get("lm_head.weight", {V, H});  // redundant copy (Qwen3-0.6B)
  } else {
    w.lm_head = b.matrix("lm_head.weight", V, H);
  }
  w.layers.resize(std::size_t(c.num_layers));
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    auto& L = w.layers[std::size_t(l)];
    L.input_norm = b.vec(p + "input_layernorm.weight", H);
    L.post_norm = b.vec(p + "post_attention_layernorm.weight", H);
    L.q_proj = b.matrix(p + "self_attn.q_proj.weight", Q, H);
    L.k_proj = b.matrix(p + "self_attn.k_proj.weight", KV, H);
    L.v_proj = b.matrix(p + "self_attn.v_proj.weight", KV, H);
    L.o_proj = b.matrix(p + "self_attn.o_proj.weight", H, Q);
    if (c.has_qk_norm()) {
      L.q_norm = b.vec(p + "self_attn.q_norm.weight", D);
      L.k_norm = b.vec(p + "self_attn.k_norm.weight", D);
    }
    L.gate_proj = b.matrix(p + "mlp.gate_proj.weight", I, H);
    L.up_proj = b.matrix(p + "mlp.up_proj.weight", I, H);
    L.down_proj = b.matrix(p + "mlp.down_proj.weight", H, I);
  }
  for (const auto& name : ckpt->names()) {
    if (b.used.count(name) || name.ends_with("rotary_emb.inv_freq")) continue;
    kvc::detail::fail(b.where(), ": tensor '", name, "' is not used by a ", c.num_layers, "-layer ",
                      c.arch == architecture::qwen3 ? "Qwen3" : "Llama",
                      " model (biases are not supported; does config.json match the weights?)");
  }
  return w;
}

std::size_t model_weights::bytes_per_token() const {
  std::size_t n = lm_head.bytes();
  for (const auto& L : layers)
    n += L.q_proj.bytes() + L.k_proj.bytes() + L.v_proj.bytes() + L.o_proj.bytes() + L.gate_proj.bytes() +
         L.up_proj.bytes() + L.down_proj.bytes();
  return n;
}

std::size_t model_weights::total_bytes() const {
  std::size_t n = bytes_per_token();
  if (embed.data != lm_head.data) n += embed.bytes();
  return n;
}

std::size_t weight_bytes_for(const model_config& c, kvc::dtype type) {
  const std::size_t H = std::size_t(c.hidden_size), V = std::size_t(c.vocab_size);
  const std::size_t I = std::size_t(c.intermediate_size), Q = std::size_t(c.q_width());
  const std::size_t KV = std::size_t(c.kv_width()), D = std::size_t(c.head_dim);
  const std::size_t per_layer = 2 * H                        // input and post-attention norms
                                + Q * H + 2 * KV * H + H * Q  // q, k, v, o projections
                                + 3 * I * H                   // gate, up, down
                                + (c.has_qk_norm() ? 2 * D : 0);
  const std::size_t elements = V * H * (c.tie_word_embeddings ? 1 : 2) + H + std::size_t(c.num_layers) * per_layer;
  return elements * kvc::dtype_size(type);
}

}  // namespace kvc::qwen3
