// TailorKV calibration: the per-layer dense-preference score and the hybrid plan it implies.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "kvc/core/error.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/detail/convert_row.hpp"
#include "kvc/plan/plan.hpp"

namespace kvc {

/// The constants of TailorKV's calibration as the official code uses them
/// (`modeling_llama_search.py`): alpha, last_q and the threshold beta = tau.
inline constexpr double tailorkv_top_fraction = 0.05;    // alpha: top ⌊alpha·keys⌋ keys per row
inline constexpr std::size_t tailorkv_last_queries = 32;  // last_q: prompt queries scored
inline constexpr double tailorkv_tau = 0.2;               // P > tau ⇒ quantization-friendly

/// How the dense-preference metric is computed.
struct dense_preference_options {
  double top_fraction = tailorkv_top_fraction;     // in (0, 1]
  std::size_t last_queries = tailorkv_last_queries;  // >= 1; all queries if fewer are given
  /// false (default, as the official code): each scored query's softmax runs over *all* keys,
  /// so the last 32 prompt queries also see up to 31 later keys, and every row keeps the top
  /// ⌊top_fraction·keys⌋. true: query at position p sees keys 0..p only and keeps the top
  /// ⌊top_fraction·(p + 1)⌋ of them.
  bool causal = false;

  /// Throws kvc::error naming the option out of range.
  void validate() const {
    detail::require(top_fraction > 0.0 && top_fraction <= 1.0,
                    "dense-preference top_fraction must be in (0, 1], got ", top_fraction);
    detail::require(last_queries >= 1, "dense-preference last_queries must be >= 1, got ", last_queries);
  }
};

/// TailorKV's dense-preference score P of one layer, from one prefill (tailorkv.md §1.2):
/// P = mean over the last `last_queries` queries (all if fewer) and all query heads of
/// (1 − softmax mass in the top ⌊top_fraction · keys⌋ keys of that row). A row that keeps
/// zero keys (fewer than 1/top_fraction keys, i.e. under 20 at alpha = 0.05) scores 1, as
/// the official code's top-0 does. High P = attention spread over many keys (dense).
///
/// q `[n, q_heads, head_dim]`: queries of the last n key positions (query row i sits at key
/// position keys − n + i); k `[keys, kv_heads, head_dim]` with keys >= n >= 1. Both after
/// q_norm/k_norm and RoPE, any of f32/bf16/f16, rows (head_dim) contiguous. Query head h reads
/// KV head h / (q_heads / kv_heads); logits are scaled by shape.softmax_scale(). Dot products
/// are f32, the softmax and the sums f64.
inline double dense_preference_score(const dyn_view3& q, const dyn_view3& k, const layer_shape& shape,
                                     const dense_preference_options& options = {}) {
  shape.validate();
  options.validate();
  const std::size_t n = q.extent(0), keys = k.extent(0);
  const std::size_t hq = std::size_t(shape.q_heads), hk = std::size_t(shape.kv_heads);
  const std::size_t dim = std::size_t(shape.head_dim), group = hq / hk;
  detail::require(n >= 1, "dense_preference_score: q needs at least one query row");
  detail::check_shape(q, {n, hq, dim}, "q", "[n, q_heads, head_dim]");
  detail::check_shape(k, {keys, hk, dim}, "k", "[keys, kv_heads, head_dim]");
  detail::require(keys >= n, "dense_preference_score: q has ", n, " rows but k only ", keys,
                  " keys (the queries are the last n key positions)");
  detail::require(q.strides[2] == 1 && k.strides[2] == 1, "q and k rows (head_dim) must be contiguous");

  const std::size_t rows = std::min(n, options.last_queries);
  const std::size_t first_row = n - rows;
  const float scale = shape.softmax_scale();

  // per (row, query head): 1 − kept mass, summed in a fixed order so P is reproducible
  std::vector<double> outside(rows * hq);
  std::vector<float> kh_rows(keys * dim);  // [keys, head_dim] keys of one KV head, f32
  for (std::size_t kh = 0; kh < hk; ++kh) {
#pragma omp parallel for schedule(static)
    for (std::size_t t = 0; t < keys; ++t) detail::to_f32_row(k.row_ptr(t, kh), k.type, &kh_rows[t * dim], dim);
    const std::size_t tasks = rows * group;
#pragma omp parallel
    {
      std::vector<float> qrow(dim);
      std::vector<double> p(keys);
#pragma omp for schedule(dynamic, 1)
      for (std::size_t task = 0; task < tasks; ++task) {
        const std::size_t r = first_row + task / group, h = kh * group + task % group;
        const std::size_t position = keys - n + r;
        const std::size_t visible = options.causal ? position + 1 : keys;
        const std::size_t top = std::size_t(std::floor(options.top_fraction * double(visible)));
        detail::to_f32_row(q.row_ptr(r, h), q.type, qrow.data(), dim);
        double mx = -INFINITY;
        for (std::size_t t = 0; t < visible; ++t) {
          const float* kr = &kh_rows[t * dim];
          float dot = 0;
#pragma omp simd reduction(+ : dot)
          for (std::size_t c = 0; c < dim; ++c) dot += qrow[c] * kr[c];
          p[t] = double(dot) * double(scale);
          mx = std::max(mx, p[t]);
        }
        double total = 0;
        for (std::size_t t = 0; t < visible; ++t) total += (p[t] = std::exp(p[t] - mx));
        double kept = 0;
        if (top > 0) {
          std::nth_element(p.begin(), p.begin() + std::ptrdiff_t(top - 1), p.begin() + std::ptrdiff_t(visible),
                           std::greater<double>());
          for (std::size_t t = 0; t < top; ++t) kept += p[t];
        }
        outside[(r - first_row) * hq + h] = 1.0 - kept / total;
      }
    }
  }
  double outside_sum = 0;
  for (double x : outside) outside_sum += x;
  return outside_sum / double(rows * hq);
}

/// Which sparse-offload setting TailorKV's sparsity-friendly layers get (tailorkv.md §3.2).
enum class tailorkv_setting {
  long_context,   // InfiniteBench/RULER: sparse:topk=896,sink=64,window=64,channels=12
  short_context,  // LongBench: sparse:topk=128,sink=8,window=56,channels=8
};

/// The sparse-offload numbers of a setting: top-k, sink, window, scored channels d_s.
struct tailorkv_sparse_numbers {
  std::size_t topk, sink, window, channels;
};
constexpr tailorkv_sparse_numbers tailorkv_sparse_for(tailorkv_setting s) {
  return s == tailorkv_setting::long_context ? tailorkv_sparse_numbers{896, 64, 64, 12}
                                             : tailorkv_sparse_numbers{128, 8, 56, 8};
}

/// The quantization numbers of a quantization-friendly layer: bits for keys and values, group G
/// and residual R. Value groups run along channels, so a head_dim under 64 (tiny test models)
/// gets G = head_dim.
struct tailorkv_quant_numbers {
  int bits;
  std::size_t group, residual;
};

/// Options of TailorKV calibration: the metric, the threshold and what each kind of layer gets.
/// The numbers above are the one source of both the spec strings written to plan files and the
/// option structs the self-calibrating tailorkv policy builds.
struct tailorkv_calibration_options {
  dense_preference_options metric;
  double tau = tailorkv_tau;  // in (0, 1): P > tau ⇒ quantized layer
  int bits = 2;               // 1 or 2: key and value bits of quantized layers (TailorKV-1/-2)
  tailorkv_setting setting = tailorkv_setting::long_context;

  /// Throws kvc::error naming the option out of range.
  void validate() const {
    metric.validate();
    detail::require(tau > 0.0 && tau < 1.0, "tailorkv: tau must be in (0, 1), got ", tau);
    detail::require(bits == 1 || bits == 2, "tailorkv: bits must be 1 or 2, got ", bits);
  }
  /// True if a layer with dense-preference score P is quantized (else sparse-offload).
  bool quantizes(double score) const { return score > tau; }
  tailorkv_quant_numbers quant_numbers(int head_dim = 128) const {
    return {bits, std::size_t(std::min(64, head_dim)), 128};
  }
  tailorkv_sparse_numbers sparse_numbers() const { return tailorkv_sparse_for(setting); }

  /// The spec of a quantization-friendly layer: `quant:k=B,v=B,group=G,residual=128`.
  std::string quantized_spec(int head_dim = 128) const {
    validate();
    const tailorkv_quant_numbers q = quant_numbers(head_dim);
    const std::string b = std::to_string(q.bits);
    return "quant:k=" + b + ",v=" + b + ",group=" + std::to_string(q.group) + ",residual=" +
           std::to_string(q.residual);
  }
  /// The spec of a sparsity-friendly layer, by setting.
  std::string sparse_spec() const {
    const tailorkv_sparse_numbers s = sparse_numbers();
    return "sparse:topk=" + std::to_string(s.topk) + ",sink=" + std::to_string(s.sink) + ",window=" +
           std::to_string(s.window) + ",channels=" + std::to_string(s.channels);
  }
  /// The spec a layer with score P and `head_dim` gets: quantized if P > tau, else sparse-offload.
  std::string spec_for(double score, int head_dim = 128) const {
    return quantizes(score) ? quantized_spec(head_dim) : sparse_spec();
  }
};

/// A calibrated TailorKV plan and each layer's P (also in plan.scores).
struct calibration_result {
  cache_plan plan;
  std::vector<double> scores;  // [num_layers] dense-preference score P per layer
};

/// Calibrates a whole model from one prefill: q[l] `[n, q_heads, head_dim]` and k[l]
/// `[keys, kv_heads, head_dim]` are layer l's prompt queries and keys (see
/// dense_preference_score); layer l gets options.spec_for(P_l, head_dim). `model` is copied
/// into the plan.
inline calibration_result calibrate_tailorkv(std::span<const dyn_view3> q, std::span<const dyn_view3> k,
                                             const layer_shape& shape,
                                             const tailorkv_calibration_options& options = {},
                                             std::string model = {}) {
  options.validate();
  detail::require(!q.empty(), "calibrate_tailorkv: no layers given");
  detail::require(q.size() == k.size(), "calibrate_tailorkv: ", q.size(), " query tensors but ", k.size(),
                  " key tensors (one of each per layer)");
  calibration_result r;
  r.plan.model = std::move(model);
  for (std::size_t l = 0; l < q.size(); ++l) {
    double p = 0;
    try {
      p = dense_preference_score(q[l], k[l], shape, options.metric);
    } catch (const kvc::error& e) {
      detail::fail("calibrate_tailorkv: layer ", l, ": ", e.what());
    }
    r.scores.push_back(p);
    r.plan.layers.push_back(options.spec_for(p, shape.head_dim));
  }
  r.plan.scores = r.scores;
  return r;
}

}  // namespace kvc
