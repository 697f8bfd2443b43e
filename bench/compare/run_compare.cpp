// kvc-bench compare: every policy on the same synthetic layer (or model of layers), against the f64 oracle.
#include "compare/run_compare.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <chrono>
#include <cmath>
#include <vector>

#include "kvc/attention/reference.hpp"
#include "kvc/cache.hpp"
#include "kvc/io/resolve_plan.hpp"
#include "kvc/policy/tailorkv.hpp"
#include "kvc_support/attention_oracle.hpp"
#include "kvc_support/read_bandwidth.hpp"
#include "kvc_support/synthetic.hpp"

namespace kvc::bench {
namespace {

using support::make_synthetic_layer;
using support::measure_read_bandwidth;
using support::synthetic_layer;
using support::synthetic_options;

using clock_type = std::chrono::steady_clock;

tensor_view<const float, 3> rows(const std::vector<float>& x, std::size_t first, std::size_t n,
                                 std::size_t heads, std::size_t dim) {
  return {x.data() + first * heads * dim, {n, heads, dim}};
}

/// Query row `s` of the workload's decode queries. // [q_heads, head_dim]
tensor_view<const float, 2> query(const synthetic_layer& w, std::size_t s) {
  const auto& sh = w.options.shape;
  return {&w.queries[s * sh.q_heads * sh.head_dim], {std::size_t(sh.q_heads), std::size_t(sh.head_dim)}};
}

/// One generated dataset (a layer kind) with its f64 oracle outputs and, on demand, exact scores.
struct layer_data {
  synthetic_layer w;
  std::vector<std::vector<double>> exact;   // [steps][q_heads · head_dim]
  std::vector<std::vector<double>> scores;  // [steps][q_heads · tokens] exact logits, filled lazily
};

/// "quant:0 sparse:1-35": the policy names the layers of a tailorkv:calibrate cache chose.
std::string chosen_plan(kv_cache& cache) {
  std::vector<std::string> chosen(std::size_t(cache.layers()));
  for (int l = 0; l < cache.layers(); ++l) {
    for (const dtype t : {dtype::bf16, dtype::f32, dtype::f16})  // a tailorkv layer of any dtype
      visit_dtype(t, [&](auto tag) {
        if (const auto* c = cache.layer(l).as<tailorkv_cache<decltype(tag)>>(); c && c->calibrated())
          chosen[std::size_t(l)] = c->chosen_spec();
      });
    if (chosen[std::size_t(l)].empty()) return {};
  }
  return layer_kinds(chosen);
}

}  // namespace

std::vector<policy_result> run_compare(const compare_options& o, const progress_fn& progress) {
  detail::require(o.layers >= 1, "--layers must be >= 1, got ", o.layers);
  const std::size_t num_layers = std::size_t(o.layers);
  std::vector<int> kind(num_layers, o.dense ? 1 : 0);  // per layer: 0 sparse dataset, 1 dense
  for (int l : o.dense_layers) {
    detail::require(l >= 0 && l < o.layers, "--dense-layers: layer ", l, " out of range [0, ", o.layers, ")");
    kind[std::size_t(l)] = 1;
  }
  const std::size_t hq = o.shape.q_heads, hk = o.shape.kv_heads, d = o.shape.head_dim;

  std::array<std::unique_ptr<layer_data>, 2> data;  // [sparse, dense], only the kinds in use
  for (int k = 0; k < 2; ++k) {
    if (std::find(kind.begin(), kind.end(), k) == kind.end()) continue;
    synthetic_options so;
    so.shape = o.shape;
    so.context = o.context;
    so.steps = o.steps;
    so.seed = o.seed + std::uint64_t(num_layers > 1 && k == 1);  // one layer: the seed as given
    so.dense = k == 1;
    so.heavy_strength = o.heavy_strength;
    so.heavy_fraction = o.heavy_fraction;
    progress(k ? "generating dense workload" : "generating workload", 0, 1);
    data[std::size_t(k)] = std::make_unique<layer_data>(layer_data{make_synthetic_layer(so), {}, {}});
  }


  // The f64 oracle, once per step and dataset, shared by every policy.
  for (auto& ld : data) {
    if (!ld) continue;
    const synthetic_layer& w = ld->w;
    ld->exact.resize(o.steps);
    std::size_t done = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (std::size_t s = 0; s < o.steps; ++s) {
      ld->exact[s] = attention_reference(rows(w.queries, s, 1, hq, d), rows(w.keys, 0, o.context + s + 1, hk, d),
                                         rows(w.values, 0, o.context + s + 1, hk, d), o.shape, o.context + s);
#pragma omp critical
      progress("f64 reference", ++done, o.steps);
    }
  }

  std::vector<policy_result> results;
  const double bf16_bytes_per_token = 2.0 * double(hk * d) * 2.0 * double(num_layers);
  for (const auto& spec : o.policies) {
    kv_cache cache(io::resolve_plan(spec, o.layers), o.shape);  // plan:FILE or one spec on every layer
    double read_bw = 0;  // GB/s, measured before this policy's decode steps
    // Layer by layer: load the context, then run every decode step. Layers are independent, so
    // this equals step-major order, and only one layer's context is ever staged (tailorkv).
    std::vector<double> times(o.steps, 0.0);  // per step, summed over layers
    double err2 = 0, ref2 = 0, recall_sum = 0, h2d_bytes = 0;
    std::size_t recall_count = 0;
    std::vector<float> out(hq * d);
    constexpr std::size_t chunk = 4096;
    for (std::size_t l = 0; l < num_layers; ++l) {
      layer_data& ld = *data[std::size_t(kind[l])];
      const synthetic_layer& w = ld.w;
      for (std::size_t t = 0; t < o.context; t += chunk) {
        const std::size_t n = std::min(chunk, o.context - t);
        cache.append(int(l), rows(w.keys, t, n, hk, d), rows(w.values, t, n, hk, d));
      }
      // The baseline is measured right before the policy's first timed step: on a shared
      // machine the memory system's speed drifts, and the ratio should compare like with like.
      if (l == 0) {
        progress("measuring read bandwidth", 0, 1);
        read_bw = measure_read_bandwidth(o.read_bw_bytes);
      }
      support::attended_log attended(o.steps, hk);
      for (std::size_t s = 0; s < o.steps; ++s) {
        const std::size_t pos = o.context + s;
        const auto before = cache.traffic(int(l));
        const auto t0 = clock_type::now();
        if (o.prefetch_hints) cache.prefetch_hint(int(l), rows(w.queries, s, 1, hq, d));
        cache.append_and_attend(int(l), rows(w.queries, s, 1, hq, d), rows(w.keys, pos, 1, hk, d),
                                rows(w.values, pos, 1, hk, d), tensor_view<float, 3>(out.data(), {1, hq, d}));
        times[s] += std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
        h2d_bytes += double(cache.traffic(int(l)).host_to_device - before.host_to_device);
        for (std::size_t i = 0; i < out.size(); ++i) {
          const double diff = double(out[i]) - ld.exact[s][i];
          err2 += diff * diff;
          ref2 += ld.exact[s][i] * ld.exact[s][i];
        }
        attended.record(cache, int(l), s);  // scored after the timed steps
      }
      // Recall of exact attention mass, for policies that attend a subset.
      attended.add_recall(o.shape, [&](std::size_t step) -> const std::vector<double>& {
        if (ld.scores.empty()) {
          progress("exact scores", 0, o.steps);
          for (std::size_t i = 0; i < o.steps; ++i)
            ld.scores.push_back(support::exact_scores(query(w, i), rows(w.keys, 0, o.context + i + 1, hk, d), o.shape));
        }
        return ld.scores[step];
      }, recall_sum, recall_count);
      progress(spec + ": layers", l + 1, num_layers);
    }
    std::nth_element(times.begin(), times.begin() + long(times.size() / 2), times.end());
    const double median_us = times[times.size() / 2];
    const auto fp = cache.footprint();
    const double tokens = double(cache.size(0));
    policy_result r;
    r.policy = spec;
    if (const std::string plan = chosen_plan(cache); !plan.empty()) r.policy += " [" + plan + "]";
    r.context = o.context;
    r.device_bytes_per_token = double(fp.device_bytes) / tokens;
    r.host_bytes_per_token = double(fp.host_bytes) / tokens;
    r.metadata_bytes_per_token = double(fp.metadata_bytes) / tokens;
    r.compression_ratio = bf16_bytes_per_token / std::max(1e-9, r.device_bytes_per_token);
    r.attn_rel_error = std::sqrt(err2 / ref2);
    r.mass_recall = recall_count ? recall_sum / double(recall_count) : -1.0;
    r.decode_us_per_token = median_us;
    r.bytes_read_per_step = double(fp.held_device_bytes()) + h2d_bytes / double(o.steps);
    r.h2d_bytes_per_step = h2d_bytes / double(o.steps);
    r.achieved_gbps = r.bytes_read_per_step / (median_us * 1e-6) / 1e9;
    r.read_bw_gbps = read_bw;
    results.push_back(r);
  }
  return results;
}

}  // namespace kvc::bench
