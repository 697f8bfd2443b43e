// kvc-bench compare: every policy on the same synthetic layer, against the f64 oracle.
#include "compare/run_compare.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "kvc/attention/reference.hpp"
#include "kvc/cache.hpp"
#include "workload/read_bandwidth.hpp"
#include "workload/synthetic.hpp"

namespace kvc::bench {
namespace {

using clock_type = std::chrono::steady_clock;

tensor_view<const float, 3> rows(const std::vector<float>& x, std::size_t first, std::size_t n,
                                 std::size_t heads, std::size_t dim) {
  return {x.data() + first * heads * dim, {n, heads, dim}};
}

/// Exact softmax probabilities of decode step `s` for every query head over positions
/// [0, context + s] (f64), [q_heads, tokens].
std::vector<double> exact_probabilities(const synthetic_layer& w, std::size_t s) {
  const auto& sh = w.options.shape;
  const std::size_t hq = sh.q_heads, d = sh.head_dim, hk = sh.kv_heads, group = hq / hk;
  const std::size_t keys = w.options.context + s + 1;
  const double scale = 1.0 / std::sqrt(double(d));
  std::vector<double> p(hq * keys);
#pragma omp parallel for schedule(static)
  for (std::size_t h = 0; h < hq; ++h) {
    const float* q = &w.queries[(s * hq + h) * d];
    double* ph = &p[h * keys];
    double mx = -INFINITY, sum = 0;
    for (std::size_t t = 0; t < keys; ++t) {
      const float* k = &w.keys[(t * hk + h / group) * d];
      double dot = 0;
      for (std::size_t c = 0; c < d; ++c) dot += double(q[c]) * double(k[c]);
      ph[t] = dot * scale;
      mx = std::max(mx, ph[t]);
    }
    for (std::size_t t = 0; t < keys; ++t) sum += (ph[t] = std::exp(ph[t] - mx));
    for (std::size_t t = 0; t < keys; ++t) ph[t] /= sum;
  }
  return p;
}

}  // namespace

std::vector<policy_result> run_compare(const compare_options& o, const progress_fn& progress) {
  synthetic_options so;
  so.shape = o.shape;
  so.context = o.context;
  so.steps = o.steps;
  so.seed = o.seed;
  so.dense = o.dense;
  progress("generating workload", 0, 1);
  const synthetic_layer w = make_synthetic_layer(so);
  const std::size_t hq = o.shape.q_heads, hk = o.shape.kv_heads, d = o.shape.head_dim;

  progress("measuring read bandwidth", 0, 1);
  const double read_bw = measure_read_bandwidth(o.read_bw_bytes);

  // The f64 oracle, once per step, shared by every policy.
  std::vector<std::vector<double>> exact(o.steps);
  std::size_t done = 0;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t s = 0; s < o.steps; ++s) {
    exact[s] = attention_reference(rows(w.queries, s, 1, hq, d), rows(w.keys, 0, o.context + s + 1, hk, d),
                                   rows(w.values, 0, o.context + s + 1, hk, d), o.shape, o.context + s);
#pragma omp critical
    progress("f64 reference", ++done, o.steps);
  }
  std::vector<std::vector<double>> probabilities;  // computed when a sparse policy needs them

  std::vector<policy_result> results;
  const double bf16_bytes_per_token = 2.0 * double(hk * d) * 2.0;
  for (const auto& spec : o.policies) {
    kv_cache cache(spec, 1, o.shape);
    constexpr std::size_t chunk = 4096;
    for (std::size_t t = 0; t < o.context; t += chunk) {
      const std::size_t n = std::min(chunk, o.context - t);
      cache.append(0, rows(w.keys, t, n, hk, d), rows(w.values, t, n, hk, d));
      progress(spec + ": loading context", t + n, o.context);
    }
    std::vector<double> times;
    double err2 = 0, ref2 = 0, recall_sum = 0, read_bytes = 0, h2d_bytes = 0;
    std::size_t recall_count = 0;
    std::vector<float> out(hq * d);
    std::vector<std::size_t> attended;
    for (std::size_t s = 0; s < o.steps; ++s) {
      const std::size_t pos = o.context + s;
      const auto before = cache.traffic();
      const auto t0 = clock_type::now();
      cache.append_and_attend(0, rows(w.queries, s, 1, hq, d), rows(w.keys, pos, 1, hk, d),
                              rows(w.values, pos, 1, hk, d), tensor_view<float, 3>(out.data(), {1, hq, d}));
      times.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
      const double h2d = double(cache.traffic().host_to_device - before.host_to_device);
      h2d_bytes += h2d;
      read_bytes += double(cache.footprint().device_bytes) + h2d;
      for (std::size_t i = 0; i < out.size(); ++i) {
        const double diff = double(out[i]) - exact[s][i];
        err2 += diff * diff;
        ref2 += exact[s][i] * exact[s][i];
      }
      // Recall of exact attention mass, for policies that attend a subset.
      for (std::size_t kh = 0; kh < hk; ++kh) {
        if (!cache.attended_positions(0, kh, attended)) break;
        if (probabilities.empty()) {
          progress("exact probabilities", 0, o.steps);
          for (std::size_t i = 0; i < o.steps; ++i) probabilities.push_back(exact_probabilities(w, i));
        }
        const std::size_t keys = pos + 1;
        for (std::size_t g = 0; g < hq / hk; ++g) {
          const double* p = &probabilities[s][(kh * (hq / hk) + g) * keys];
          double mass = p[pos];  // the new token is always attended
          for (std::size_t t : attended)
            if (t < pos) mass += p[t];
          recall_sum += mass;
          ++recall_count;
        }
      }
      progress(spec + ": decoding", s + 1, o.steps);
    }
    std::nth_element(times.begin(), times.begin() + long(times.size() / 2), times.end());
    const double median_us = times[times.size() / 2];
    const auto fp = cache.footprint();
    const double tokens = double(cache.size(0));
    policy_result r;
    r.policy = spec;
    r.context = o.context;
    r.device_bytes_per_token = double(fp.device_bytes) / tokens;
    r.host_bytes_per_token = double(fp.host_bytes) / tokens;
    r.metadata_bytes_per_token = double(fp.metadata_bytes) / tokens;
    r.compression_ratio = bf16_bytes_per_token / std::max(1e-9, r.device_bytes_per_token);
    r.attn_rel_error = std::sqrt(err2 / ref2);
    r.mass_recall = recall_count ? recall_sum / double(recall_count) : -1.0;
    r.decode_us_per_token = median_us;
    r.bytes_read_per_step = read_bytes / double(o.steps);
    r.h2d_bytes_per_step = h2d_bytes / double(o.steps);
    r.achieved_gbps = r.bytes_read_per_step / (median_us * 1e-6) / 1e9;
    r.read_bw_gbps = read_bw;
    results.push_back(r);
  }
  return results;
}

}  // namespace kvc::bench
