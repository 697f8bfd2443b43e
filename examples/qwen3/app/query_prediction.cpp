// Next-layer query prediction (TailorKV Stage 1) on the Qwen3 model and its channel-agreement measurement.
#include "app/query_prediction.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kvc/core/error.hpp"
#include "model/layers.hpp"

namespace kvc::qwen3 {
namespace {

using mat = tensor_view<float, 2>;
using cmat = tensor_view<const float, 2>;

/// Indices of the `k` largest scores (ties: lower index first), sorted ascending.
std::vector<std::size_t> top_channels(const std::vector<float>& score, std::size_t k) {
  std::vector<std::size_t> idx(score.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + std::ptrdiff_t(k), idx.end(),
                    [&](std::size_t a, std::size_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); });
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

double overlap(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
  std::vector<std::size_t> both;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
  return double(both.size()) / double(a.size());
}

}  // namespace

std::vector<float> predict_query(const model& m, int layer, std::span<const float> hidden, std::int32_t position,
                                 query_predictor how) {
  const auto& c = m.config();
  kvc::detail::require(layer >= 1 && layer < c.num_layers, "predict_query: layer ", layer, " out of range [1, ",
                       c.num_layers, ")");
  kvc::detail::require(hidden.size() == std::size_t(c.hidden_size), "predict_query: hidden has ", hidden.size(),
                       " values, expected hidden_size = ", c.hidden_size);
  const auto& L = m.weights().layers[std::size_t(layer)];
  std::vector<float> h(hidden.begin(), hidden.end()), q(std::size_t(c.q_width()));
  if (how == query_predictor::next_layer_norm)
    rms_norm(cmat(h.data(), {1, h.size()}), L.input_norm, float(c.rms_norm_eps), mat(h.data(), {1, h.size()}));
  const std::int32_t pos[] = {position};
  m.project_query(layer, cmat(h.data(), {1, h.size()}), pos, mat(q.data(), {1, q.size()}));
  return q;
}

std::vector<float> forward_capture(const model& m, std::span<const std::int32_t> tokens, kvc::kv_cache& cache,
                                   logits_mode mode, std::size_t keep_queries, attention_capture& out) {
  const auto& c = m.config();
  const std::size_t n = tokens.size(), L = std::size_t(c.num_layers);
  const std::size_t Q = std::size_t(c.q_width()), KV = std::size_t(c.kv_width());
  std::vector<std::int32_t> positions(n);
  std::iota(positions.begin(), positions.end(), std::int32_t(cache.size(0)));
  const std::size_t keep = std::min(keep_queries, n);
  out.q.assign(L, {});
  out.k.assign(L, {});
  out.q_rows.assign(L, keep);
  const std::string_view q_name = c.has_qk_norm() ? "q_norm" : "q_proj", k_name = c.has_qk_norm() ? "k_norm" : "k_proj";
  const observer capture = [&](std::string_view name, int layer, tensor_view<const float, 2> value) {
    if (layer < 0 || (name != q_name && name != k_name)) return;
    const bool is_q = name == q_name;
    const std::size_t width = is_q ? Q : KV, first = is_q ? n - keep : 0;
    auto& dst = is_q ? out.q[std::size_t(layer)] : out.k[std::size_t(layer)];
    dst.resize((n - first) * width);
    for (std::size_t i = first; i < n; ++i) std::copy_n(value.row(i), width, &dst[(i - first) * width]);
    const std::int32_t* p = positions.data() + first;
    m.rope().apply(tensor_view<float, 3>(dst.data(), {n - first, width / std::size_t(c.head_dim), std::size_t(c.head_dim)}),
                   std::span<const std::int32_t>(p, n - first));
  };
  return m.forward(tokens, positions, cache, mode, capture);
}

channel_agreement measure_channel_agreement(const model& m, std::span<const std::int32_t> prompt, std::size_t steps,
                                            int channels) {
  const auto& c = m.config();
  const std::size_t L = std::size_t(c.num_layers), H = std::size_t(c.hidden_size), D = std::size_t(c.head_dim);
  const std::size_t hq = std::size_t(c.num_heads), hk = std::size_t(c.num_kv_heads), group = hq / hk;
  kvc::detail::require(channels >= 1 && std::size_t(channels) <= D, "channel agreement: channels must be in [1, head_dim = ",
                       D, "], got ", channels);
  kvc::detail::require(L >= 2, "channel agreement needs a model with at least 2 layers");
  kvc::detail::require(!prompt.empty(), "channel agreement: empty prompt");
  const std::size_t ds = std::size_t(channels);
  auto cache = m.make_cache("full:f32");

  // Prefill: max|K| per layer, KV head and channel over the prompt's post-RoPE keys.
  attention_capture cap;
  auto logits = forward_capture(m, prompt, cache, logits_mode::last, 1, cap);
  std::vector<std::vector<float>> max_k(L, std::vector<float>(hk * D, 0.0f));  // [layers][kv_heads·D]
  for (std::size_t l = 0; l < L; ++l)
    for (std::size_t t = 0; t < prompt.size(); ++t)
      for (std::size_t e = 0; e < hk * D; ++e) max_k[l][e] = std::max(max_k[l][e], std::fabs(cap.k[l][t * hk * D + e]));

  channel_agreement r;
  r.channels = channels;
  r.head_dim = int(D);
  r.steps = steps;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> sum_next(L, 0), sum_own(L, 0), sum_keys(L, 0), sum_cos(L, 0);
  std::vector<std::size_t> count(L, 0), count_cos(L, 0);

  // Per decode step: the true queries (captured), the hidden states the predictors read.
  std::vector<std::vector<float>> x_in(L, std::vector<float>(H)), x_norm(L, std::vector<float>(H));
  const auto group_scores = [&](const float* q, std::size_t kv, const std::vector<float>& mk) {
    std::vector<float> s(D);
    for (std::size_t d = 0; d < D; ++d) {
      float sum = 0;
      for (std::size_t g = 0; g < group; ++g) sum += q[(kv * group + g) * D + d];
      s[d] = std::fabs(sum) * mk[kv * D + d];
    }
    return s;
  };
  for (std::size_t step = 0; step < steps; ++step) {
    const auto token = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const auto position = std::int32_t(cache.size(0));
    m.weights().embed.row_to_float(token, x_in[0].data());
    const observer hidden = [&](std::string_view name, int layer, tensor_view<const float, 2> value) {
      if (layer < 0) return;
      if (name == "input_layernorm") std::copy_n(value.row(0), H, x_norm[std::size_t(layer)].data());
      if (name == "residual" && std::size_t(layer) + 1 < L) std::copy_n(value.row(0), H, x_in[std::size_t(layer) + 1].data());
    };
    // one pass: the predictors' inputs and the true post-RoPE queries
    std::vector<std::int32_t> tok{token}, pos{position};
    const std::string_view q_name = c.has_qk_norm() ? "q_norm" : "q_proj";
    std::vector<std::vector<float>> q_true(L);
    const observer both = [&](std::string_view name, int layer, tensor_view<const float, 2> value) {
      hidden(name, layer, value);
      if (layer >= 0 && name == q_name) {
        auto& q = q_true[std::size_t(layer)];
        q.assign(value.row(0), value.row(0) + hq * D);
        m.rope().apply(tensor_view<float, 3>(q.data(), {1, hq, D}), pos);
      }
    };
    logits = m.forward(tok, pos, cache, logits_mode::last, both);
    for (std::size_t l = 1; l < L; ++l) {
      const auto pred_next = predict_query(m, int(l), x_in[l - 1], position, query_predictor::next_layer_norm);
      const auto pred_own = predict_query(m, int(l), x_norm[l - 1], position, query_predictor::own_layer_norm);
      for (std::size_t kv = 0; kv < hk; ++kv) {
        const auto truth = top_channels(group_scores(q_true[l].data(), kv, max_k[l]), ds);
        sum_next[l] += overlap(top_channels(group_scores(pred_next.data(), kv, max_k[l]), ds), truth);
        sum_own[l] += overlap(top_channels(group_scores(pred_own.data(), kv, max_k[l]), ds), truth);
        std::vector<float> mk(max_k[l].begin() + std::ptrdiff_t(kv * D), max_k[l].begin() + std::ptrdiff_t((kv + 1) * D));
        sum_keys[l] += overlap(top_channels(mk, ds), truth);
        ++count[l];
      }
      for (std::size_t h = 0; h < hq; ++h) {
        double dot = 0, a2 = 0, b2 = 0;
        for (std::size_t d = 0; d < D; ++d) {
          const double a = pred_next[h * D + d], b = q_true[l][h * D + d];
          dot += a * b;
          a2 += a * a;
          b2 += b * b;
        }
        sum_cos[l] += dot / std::sqrt(a2 * b2);
        ++count_cos[l];
      }
    }
  }
  for (std::size_t l = 0; l < L; ++l) {
    const bool any = count[l] > 0;
    r.next_layer_norm.push_back(any ? sum_next[l] / double(count[l]) : nan);
    r.own_layer_norm.push_back(any ? sum_own[l] / double(count[l]) : nan);
    r.keys_only.push_back(any ? sum_keys[l] / double(count[l]) : nan);
    r.cosine_next.push_back(count_cos[l] ? sum_cos[l] / double(count_cos[l]) : nan);
  }
  return r;
}

}  // namespace kvc::qwen3
