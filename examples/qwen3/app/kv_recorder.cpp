// kv_recorder: the cache's inputs rebuilt from the forward pass's observer callbacks.
#include "app/kv_recorder.hpp"

#include <algorithm>
#include <vector>

namespace kvc::qwen3 {

kv_recorder::kv_recorder(const model& m) : model_(m) {
  const auto& c = m.config();
  trace_.shape = m.attention_shape();
  trace_.q.resize(std::size_t(c.num_layers));
  trace_.k.resize(std::size_t(c.num_layers));
  trace_.v.resize(std::size_t(c.num_layers));
}

observer kv_recorder::for_call(std::span<const std::int32_t> positions) {
  const bool qk_norm = model_.config().has_qk_norm();
  return [this, positions, qk_norm](std::string_view name, int layer, tensor_view<const float, 2> value) {
    if (layer < 0) return;
    const bool is_q = name == (qk_norm ? "q_norm" : "q_proj");
    const bool is_k = name == (qk_norm ? "k_norm" : "k_proj");
    const bool is_v = name == "v_proj";
    if (!is_q && !is_k && !is_v) return;
    const std::size_t n = value.extent(0), width = value.extent(1);
    const std::size_t D = std::size_t(trace_.shape.head_dim);
    std::vector<float> rows(n * width);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < width; ++j) rows[i * width + j] = value(i, j);
    if (!is_v) model_.rope().apply(tensor_view<float, 3>(rows.data(), {n, width / D, D}), positions);
    auto& dst = (is_q ? trace_.q : is_k ? trace_.k : trace_.v)[std::size_t(layer)];
    dst.insert(dst.end(), rows.begin(), rows.end());
    if (is_v && layer == 0) trace_.tokens += n;
  };
}

std::vector<std::int32_t> record_greedy(const model& m, kvc::kv_cache& cache, std::span<const std::int32_t> prompt,
                                        int new_tokens, std::size_t prefill_chunk, kv_recorder& recorder) {
  kvc::detail::require(!prompt.empty() && prefill_chunk > 0, "record_greedy: empty prompt or zero chunk");
  cache.clear();
  std::vector<std::int32_t> positions, out;
  std::vector<float> logits;
  for (std::size_t t = 0; t < prompt.size(); t += prefill_chunk) {
    const std::size_t n = std::min(prefill_chunk, prompt.size() - t);
    positions.resize(n);
    for (std::size_t i = 0; i < n; ++i) positions[i] = std::int32_t(t + i);
    logits = m.forward(prompt.subspan(t, n), positions, cache,
                       t + n == prompt.size() ? logits_mode::last : logits_mode::none, recorder.for_call(positions));
  }
  for (int i = 0; i < new_tokens; ++i) {
    const auto id = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(id);
    if (i + 1 == new_tokens) break;
    positions.assign(1, std::int32_t(prompt.size() + std::size_t(i)));
    const std::int32_t one[1] = {id};
    logits = m.forward(one, positions, cache, logits_mode::last, recorder.for_call(positions));
  }
  return out;
}

}  // namespace kvc::qwen3
