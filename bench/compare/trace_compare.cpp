// Trace replay: every policy on every layer of recorded q/k/v, against the f64 oracle.
#include "compare/trace_compare.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>

#include <nlohmann/json.hpp>

#include "compare/report.hpp"
#include "kvc/attention/reference.hpp"
#include "kvc/cache.hpp"
#include "kvc/io/resolve_plan.hpp"
#include "kvc_support/attention_oracle.hpp"
#include "kvc_support/read_bandwidth.hpp"
#include "kvc_support/text_table.hpp"

namespace kvc::bench {
namespace {

using support::measure_read_bandwidth;
using support::sci;

using clock_type = std::chrono::steady_clock;

tensor_view<const float, 3> rows(const std::vector<float>& x, std::size_t first, std::size_t n, std::size_t heads,
                                 std::size_t dim) {
  return {x.data() + first * heads * dim, {n, heads, dim}};
}

}  // namespace

std::vector<trace_result> run_trace_compare(const io::kv_trace& t, const std::vector<std::string>& policies,
                                            std::size_t steps, const progress_fn& progress) {
  t.validate();
  detail::require(steps >= 1 && steps < t.tokens, "trace replay: --steps (", steps, ") must be in [1, ", t.tokens,
                  ") for a trace of ", t.tokens, " tokens");
  const auto& sh = t.shape;
  const std::size_t hq = sh.q_heads, hk = sh.kv_heads, d = sh.head_dim, L = std::size_t(t.layers());
  const std::size_t context = t.tokens - steps;
  progress("f64 reference", 0, L);
  std::vector<std::vector<std::vector<double>>> exact(L, std::vector<std::vector<double>>(steps));
  for (std::size_t l = 0; l < L; ++l) {
#pragma omp parallel for schedule(dynamic, 1)
    for (std::size_t s = 0; s < steps; ++s) {
      const std::size_t pos = context + s;
      exact[l][s] = attention_reference(rows(t.q[l], pos, 1, hq, d), rows(t.k[l], 0, pos + 1, hk, d),
                                        rows(t.v[l], 0, pos + 1, hk, d), sh, pos);
    }
    progress("f64 reference", l + 1, L);
  }
  const double bf16_bytes_per_token = 2.0 * double(hk * d) * 2.0 * double(L);
  std::vector<trace_result> results;
  for (const auto& spec : policies) {
    trace_result tr;
    kv_cache cache(io::resolve_plan(spec, int(L)), sh);  // plan:FILE or one spec on every layer
    double read_bw = 0;  // GB/s, measured before this policy's decode steps (as in run_compare)
    double err2_all = 0, ref2_all = 0, recall_all = 0, read_bytes = 0, h2d_bytes = 0;
    std::size_t recall_n_all = 0;
    std::vector<double> step_us(steps, 0.0);
    std::vector<float> out(hq * d);
    for (std::size_t l = 0; l < L; ++l) {
      constexpr std::size_t chunk = 4096;
      for (std::size_t p = 0; p < context; p += chunk) {
        const std::size_t n = std::min(chunk, context - p);
        cache.append(int(l), rows(t.k[l], p, n, hk, d), rows(t.v[l], p, n, hk, d));
      }
      if (l == 0) {
        progress("measuring read bandwidth", 0, 1);
        read_bw = measure_read_bandwidth(std::size_t(1) << 30);
      }
      double err2 = 0, ref2 = 0, recall = 0;
      std::size_t recall_n = 0;
      support::attended_log attended(steps, hk);
      for (std::size_t s = 0; s < steps; ++s) {
        const std::size_t pos = context + s;
        const auto before = cache.traffic(int(l));
        const auto t0 = clock_type::now();
        cache.append_and_attend(int(l), rows(t.q[l], pos, 1, hq, d), rows(t.k[l], pos, 1, hk, d),
                                rows(t.v[l], pos, 1, hk, d), tensor_view<float, 3>(out.data(), {1, hq, d}));
        step_us[s] += std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
        const double h2d = double(cache.traffic(int(l)).host_to_device - before.host_to_device);
        h2d_bytes += h2d;
        read_bytes += double(cache.footprint(int(l)).held_device_bytes()) + h2d;
        for (std::size_t i = 0; i < out.size(); ++i) {
          const double diff = double(out[i]) - exact[l][s][i];
          err2 += diff * diff;
          ref2 += exact[l][s][i] * exact[l][s][i];
        }
        attended.record(cache, int(l), s);  // scored after the timed steps
      }
      std::vector<double> scores;  // [hq, keys] of the step being scored
      attended.add_recall(sh, [&](std::size_t step) -> const std::vector<double>& {
        const std::size_t pos = context + step;
        scores = support::exact_scores(tensor_view<const float, 2>(&t.q[l][pos * hq * d], {hq, d}),
                                       rows(t.k[l], 0, pos + 1, hk, d), sh);
        return scores;
      }, recall, recall_n);
      tr.layer_error.push_back(ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0);
      tr.layer_recall.push_back(recall_n ? recall / double(recall_n) : -1.0);
      err2_all += err2;
      ref2_all += ref2;
      recall_all += recall;
      recall_n_all += recall_n;
      progress(spec + ": layers", l + 1, L);
    }
    std::nth_element(step_us.begin(), step_us.begin() + long(steps / 2), step_us.end());
    const auto fp = cache.footprint();
    const double tokens = double(cache.size(0));
    policy_result& r = tr.overall;
    r.policy = spec;
    r.context = context;
    r.device_bytes_per_token = double(fp.device_bytes) / tokens;
    r.host_bytes_per_token = double(fp.host_bytes) / tokens;
    r.metadata_bytes_per_token = double(fp.metadata_bytes) / tokens;
    r.compression_ratio = bf16_bytes_per_token / std::max(1e-9, r.device_bytes_per_token);
    r.attn_rel_error = ref2_all > 0 ? std::sqrt(err2_all / ref2_all) : 0.0;
    r.mass_recall = recall_n_all ? recall_all / double(recall_n_all) : -1.0;
    r.decode_us_per_token = step_us[steps / 2];  // all layers of one step
    r.bytes_read_per_step = read_bytes / double(steps);
    r.h2d_bytes_per_step = h2d_bytes / double(steps);
    r.achieved_gbps = r.bytes_read_per_step / (r.decode_us_per_token * 1e-6) / 1e9;
    r.read_bw_gbps = read_bw;
    results.push_back(std::move(tr));
  }
  return results;
}

void write_trace_table(std::ostream& os, const std::vector<trace_result>& results) {
  std::vector<policy_result> overall;
  for (const auto& r : results) overall.push_back(r.overall);
  write_table(os, overall);
  if (results.empty()) return;
  os << "\nper-layer attention error (recall in parentheses for sparse policies)\n";
  std::vector<std::size_t> width{5};
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : results) {
    std::vector<std::string> col;
    for (std::size_t l = 0; l < r.layer_error.size(); ++l)
      col.push_back(sci(r.layer_error[l]) +
                    (r.layer_recall[l] < 0 ? "" : " (" + std::to_string(r.layer_recall[l]).substr(0, 6) + ")"));
    std::size_t w = r.overall.policy.size();
    for (const auto& c : col) w = std::max(w, c.size());
    width.push_back(w);
    cells.push_back(std::move(col));
  }
  os << std::left << std::setw(int(width[0])) << "layer";
  for (std::size_t p = 0; p < results.size(); ++p) os << "  " << std::right << std::setw(int(width[p + 1])) << results[p].overall.policy;
  os << '\n';
  for (std::size_t l = 0; l < results[0].layer_error.size(); ++l) {
    os << std::left << std::setw(int(width[0])) << l;
    for (std::size_t p = 0; p < results.size(); ++p) os << "  " << std::right << std::setw(int(width[p + 1])) << cells[p][l];
    os << '\n';
  }
  os << std::left;
}

void write_trace_json(std::ostream& os, const std::vector<trace_result>& results) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json recall = nlohmann::json::array();
    for (double x : r.layer_recall) recall.push_back(x < 0 ? nlohmann::json(nullptr) : nlohmann::json(x));
    nlohmann::json row = result_json(r.overall);
    row["layer_attn_rel_error"] = r.layer_error;
    row["layer_mass_recall"] = recall;
    out.push_back(std::move(row));
  }
  os << out.dump(2) << '\n';
}

void write_trace_csv(std::ostream& os, const std::vector<trace_result>& results) {
  os << "policy,layer,context,compression_ratio,attn_rel_error,mass_recall\n";
  for (const auto& r : results) {
    const auto& o = r.overall;
    const auto rec = [](double x) { return x < 0 ? std::string() : std::to_string(x); };
    os << '"' << o.policy << "\",all," << o.context << ',' << o.compression_ratio << ',' << o.attn_rel_error << ','
       << rec(o.mass_recall) << '\n';
    for (std::size_t l = 0; l < r.layer_error.size(); ++l)
      os << '"' << o.policy << "\"," << l << ',' << o.context << ',' << o.compression_ratio << ',' << r.layer_error[l]
         << ',' << rec(r.layer_recall[l]) << '\n';
  }
}

}  // namespace kvc::bench
