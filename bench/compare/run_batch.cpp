// kvc-bench batch: batched decode of mixed-length sequences vs separate caches vs one long sequence.
#include "compare/run_batch.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <span>

#include <nlohmann/json.hpp>

#include "kvc/cache.hpp"
#include "kvc/core/error.hpp"
#include "kvc_support/read_bandwidth.hpp"
#include "kvc_support/text_table.hpp"

namespace kvc::bench {
namespace {

using clock_type = std::chrono::steady_clock;

/// Random bf16 rows `[tokens, heads, dim]` to fill caches with (reused chunk by chunk: the
/// timing depends on bytes, not values).
struct random_rows {
  std::size_t tokens, heads, dim;
  std::vector<bf16> data;
  random_rows(std::mt19937_64& rng, std::size_t n, std::size_t h, std::size_t d) : tokens(n), heads(h), dim(d), data(n * h * d) {
    std::normal_distribution<float> g;
    for (auto& x : data) x = to_bf16(g(rng));
  }
  tensor_view<const bf16, 3> view(std::size_t first, std::size_t n) const {
    return {data.data() + first * heads * dim, {n, heads, dim}};
  }
};

/// Appends `n` tokens to sequence `seq` of every layer of `cache` from `rows`, chunk by chunk.
void fill(kv_cache& cache, seq_id seq, std::size_t n, const random_rows& k, const random_rows& v, std::size_t offset) {
  for (std::size_t done = 0; done < n;) {
    const std::size_t first = (offset + done) % (k.tokens - 1024), m = std::min<std::size_t>(1024, n - done);
    cache.append(0, seq, k.view(first, m), v.view(first, m));
    done += m;
  }
}

/// Bytes one decode step reads: what attention reads of the device tier plus what crosses from
/// the host, over every sequence.
double bytes_read(const kv_cache& cache, const transfer_traffic& before) {
  const memory_footprint f = cache.footprint();
  return double(f.held_device_bytes()) + double(cache.traffic().host_to_device - before.host_to_device);
}

double median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  return x.empty() ? 0 : x[x.size() / 2];
}

}  // namespace

std::vector<batch_result> run_batch(const batch_options& o, const progress_fn& progress) {
  o.shape.validate();
  detail::require(o.sequences >= 1, "batch: --sequences must be >= 1");
  detail::require(o.min_context >= 1 && o.min_context <= o.max_context, "batch: need 1 <= --min-context <= --max-context");
  const std::size_t B = o.sequences, hq = std::size_t(o.shape.q_heads), hk = std::size_t(o.shape.kv_heads),
                    D = std::size_t(o.shape.head_dim);
  std::vector<std::size_t> lengths(B);
  for (std::size_t i = 0; i < B; ++i)
    lengths[i] = B == 1 ? o.min_context : o.min_context + (o.max_context - o.min_context) * i / (B - 1);
  std::mt19937_64 rng(o.seed);
  const random_rows k(rng, 8192, hk, D), v(rng, 8192, hk, D);
  const random_rows q(rng, o.steps * B, hq, D), new_k(rng, o.steps * B + 1, hk, D), new_v(rng, o.steps * B + 1, hk, D);

  std::vector<batch_result> results;
  for (std::size_t pi = 0; pi < o.policies.size(); ++pi) {
    const std::string& spec = o.policies[pi];
    batch_result r;
    r.policy = spec;
    kv_cache batched(spec, 1, o.shape), single(spec, 1, o.shape);
    std::vector<kv_cache> separate;
    std::vector<seq_run> runs;
    for (std::size_t i = 0; i < B; ++i) {
      if (progress) progress("filling " + spec, i, B);
      const seq_id id{std::uint32_t(i + 1)};
      fill(batched, id, lengths[i], k, v, i * 131);
      separate.emplace_back(spec, 1, o.shape);
      fill(separate.back(), default_seq, lengths[i], k, v, i * 131);
      runs.push_back({id, 1});
      r.total_tokens += lengths[i];
    }
    fill(single, default_seq, o.single_context, k, v, 7);
    if (progress) progress("filling " + spec, B, B);
    batched.remove(default_seq);

    std::vector<float> out_b(B * hq * D), out_s(B * hq * D), out_1(hq * D);
    std::vector<double> t_batched, t_separate, t_single, b_batched, b_separate, b_single;
    r.read_bw_gbps = support::measure_read_bandwidth(o.read_bw_bytes);
    for (std::size_t s = 0; s < o.steps; ++s) {
      if (progress) progress("decoding " + spec, s, o.steps);
      // batched: one call for all sequences
      transfer_traffic t0 = batched.traffic();
      auto c0 = clock_type::now();
      batched.append_and_attend(0, runs, q.view(s * B, B), new_k.view(s * B, B), new_v.view(s * B, B),
                                tensor_view<float, 3>(out_b.data(), {B, hq, D}));
      t_batched.push_back(std::chrono::duration<double>(clock_type::now() - c0).count());
      b_batched.push_back(bytes_read(batched, t0));
      // separate: one call per cache
      double bytes = 0;
      c0 = clock_type::now();
      for (std::size_t i = 0; i < B; ++i) {
        t0 = separate[i].traffic();
        separate[i].append_and_attend(0, q.view(s * B + i, 1), new_k.view(s * B + i, 1), new_v.view(s * B + i, 1),
                                      tensor_view<float, 3>(out_s.data() + i * hq * D, {1, hq, D}));
        bytes += bytes_read(separate[i], t0);
      }
      t_separate.push_back(std::chrono::duration<double>(clock_type::now() - c0).count());
      b_separate.push_back(bytes);
      // one long sequence
      t0 = single.traffic();
      c0 = clock_type::now();
      single.append_and_attend(0, q.view(s * B, 1), new_k.view(s * B, 1), new_v.view(s * B, 1),
                               tensor_view<float, 3>(out_1.data(), {1, hq, D}));
      t_single.push_back(std::chrono::duration<double>(clock_type::now() - c0).count());
      b_single.push_back(bytes_read(single, t0));
      for (std::size_t j = 0; j < out_b.size(); ++j)
        r.max_batch_vs_separate =
            std::max(r.max_batch_vs_separate, std::abs(double(out_b[j]) - out_s[j]) / (1.0 + std::abs(double(out_s[j]))));
    }
    if (progress) progress("decoding " + spec, o.steps, o.steps);
    auto finish = [&](batch_mode_result& m, const std::vector<double>& t, const std::vector<double>& b, std::size_t seqs) {
      const double secs = median(t);
      m.step_ms = secs * 1e3;
      m.tokens_per_second = double(seqs) / secs;
      m.bytes_read_per_step = median(b);
      m.bandwidth_share = m.bytes_read_per_step / secs / (r.read_bw_gbps * 1e9);
    };
    finish(r.batched, t_batched, b_batched, B);
    finish(r.separate, t_separate, b_separate, B);
    finish(r.single, t_single, b_single, 1);
    results.push_back(r);
  }
  return results;
}

void write_batch_table(std::ostream& os, const batch_options& o, const std::vector<batch_result>& results) {
  using support::fixed;
  using support::sci;
  os << o.sequences << " sequences of " << o.min_context << ".." << o.max_context << " tokens decoded together, vs "
     << o.sequences << " separate caches, vs one sequence of " << o.single_context << " tokens; median of " << o.steps
     << " steps\n\n";
  const support::text_column<batch_result> columns[] = {
      {"policy", [](const batch_result& r) { return r.policy; }},
      {"batch tok/s", [](const batch_result& r) { return fixed(r.batched.tokens_per_second, 0); }},
      {"separate tok/s", [](const batch_result& r) { return fixed(r.separate.tokens_per_second, 0); }},
      {"batch/separate", [](const batch_result& r) { return fixed(r.batched.tokens_per_second / r.separate.tokens_per_second, 2); }},
      {"batch BW share", [](const batch_result& r) { return fixed(r.batched.bandwidth_share, 3); }},
      {"separate BW share", [](const batch_result& r) { return fixed(r.separate.bandwidth_share, 3); }},
      {"single BW share", [](const batch_result& r) { return fixed(r.single.bandwidth_share, 3); }},
      {"batch/single share", [](const batch_result& r) { return fixed(r.batched.bandwidth_share / r.single.bandwidth_share, 2); }},
      {"MB read/step", [](const batch_result& r) { return fixed(r.batched.bytes_read_per_step / 1e6, 1); }},
      {"max |batch-sep|", [](const batch_result& r) { return sci(r.max_batch_vs_separate); }},
      {"read BW GB/s", [](const batch_result& r) { return fixed(r.read_bw_gbps, 1); }},
  };
  support::write_text_table<batch_result>(os, columns, results);
}

void write_batch_json(std::ostream& os, const batch_options& o, const std::vector<batch_result>& results) {
  auto mode = [](const batch_mode_result& m) {
    return nlohmann::json{{"step_ms", m.step_ms},
                          {"tokens_per_second", m.tokens_per_second},
                          {"bytes_read_per_step", m.bytes_read_per_step},
                          {"bandwidth_share", m.bandwidth_share}};
  };
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : results)
    rows.push_back({{"policy", r.policy},
                    {"total_tokens", r.total_tokens},
                    {"batched", mode(r.batched)},
                    {"separate", mode(r.separate)},
                    {"single", mode(r.single)},
                    {"max_batch_vs_separate", r.max_batch_vs_separate},
                    {"read_bw_gbps", r.read_bw_gbps}});
  os << nlohmann::json{{"sequences", o.sequences},
                       {"min_context", o.min_context},
                       {"max_context", o.max_context},
                       {"single_context", o.single_context},
                       {"steps", o.steps},
                       {"results", rows}}
            .dump(2)
     << '\n';
}

}  // namespace kvc::bench
