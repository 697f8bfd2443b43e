// Teacher-forced KL / ΔPPL / top-1 evaluation of cache policies, and the passkey retrieval check.
#include "app/eval.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kvc/core/error.hpp"
#include "kvc_support/text_table.hpp"

namespace kvc::qwen3 {
namespace {

using clock_type = std::chrono::steady_clock;

/// log-softmax of one row in f64 // [vocab]
void log_softmax(const float* x, std::size_t n, std::vector<double>& out) {
  out.resize(n);
  double mx = -INFINITY;
  for (std::size_t i = 0; i < n; ++i) mx = std::max(mx, double(x[i]));
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - mx);
  const double lse = mx + std::log(sum);
  for (std::size_t i = 0; i < n; ++i) out[i] = double(x[i]) - lse;
}

struct accumulator {
  std::vector<double> kl;
  double nll = 0;
  std::size_t agree = 0;
  double seconds = 0;
};

/// Student's t quantile t(0.975, dof), from a table up to 30 degrees of freedom, then 1.96 + 2.4/dof.
double t975(std::size_t dof) {
  static constexpr double table[] = {0,     12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                     2.201, 2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080,
                                     2.074, 2.069,  2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  return dof <= 30 ? table[dof] : 1.96 + 2.4 / double(dof);
}

}  // namespace

double batch_means_ci95(std::span<const double> x, std::size_t block) {
  kvc::detail::require(block >= 1, "batch_means_ci95: block must be positive");
  const std::size_t b = x.size() / block;
  if (b < 2) return 0.0;
  std::vector<double> means(b);
  for (std::size_t i = 0; i < b; ++i) {
    double s = 0;
    for (std::size_t j = 0; j < block; ++j) s += x[i * block + j];
    means[i] = s / double(block);
  }
  double mean = 0;
  for (double m : means) mean += m;
  mean /= double(b);
  double ss = 0;
  for (double m : means) ss += (m - mean) * (m - mean);
  return t975(b - 1) * std::sqrt(ss / double(b - 1)) / std::sqrt(double(b));
}

std::vector<eval_result> run_eval(const model& m, std::span<const std::int32_t> tokens, const eval_options& o,
                                  const eval_progress& progress, const cache_factory& factory) {
  using kvc::detail::require;
  require(o.context >= 2, "eval: context must be at least 2 tokens, got ", o.context);
  const std::size_t prefill = o.prefill ? o.prefill : o.context / 2;
  require(prefill < o.context, "eval: prefill (", prefill, ") must be below context (", o.context, ")");
  require(o.step >= 1 && o.prefill_chunk >= 1, "eval: step and prefill_chunk must be positive");
  require(tokens.size() >= o.context, "eval: ", tokens.size(), " tokens is less than one window of ", o.context);
  require(o.max_windows >= 1, "eval: max_windows must be positive");
  const std::size_t windows = std::min(o.max_windows, tokens.size() / o.context);
  const auto make = [&](const std::string& spec) { return factory ? factory(spec) : m.make_cache(spec); };
  const auto& cfg = m.config();
  const std::size_t vocab = std::size_t(cfg.vocab_size);

  std::vector<std::string> specs{o.baseline};
  specs.insert(specs.end(), o.policies.begin(), o.policies.end());
  std::vector<accumulator> acc(specs.size());
  std::vector<kvc::kv_cache> caches;
  for (const auto& s : specs) caches.push_back(make(s));

  const std::size_t total_steps = windows * ((o.context - prefill + o.step - 1) / o.step);  // per window: rows prefill-1 .. context-2
  std::size_t done_steps = 0;
  std::vector<double> lp0, lp;
  for (std::size_t w = 0; w < windows; ++w) {
    const auto win = tokens.subspan(w * o.context, o.context);
    // Prefill everything but the last prefill token: its logits row scores the first target.
    const std::size_t silent = prefill - 1;
    for (std::size_t p = 0; p < specs.size(); ++p) {
      caches[p].clear();
      const auto t0 = clock_type::now();
      for (std::size_t t = 0; t < silent; t += o.prefill_chunk) {
        const std::size_t n = std::min(o.prefill_chunk, silent - t);
        (void)m.forward(win.subspan(t, n), caches[p], logits_mode::none);
      }
      acc[p].seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
      if (progress) progress(specs[p] + ": prefill", p + 1, specs.size());
    }
    // Teacher-forced steps: rows for positions silent .. context-2 are scored.
    for (std::size_t t = silent; t + 1 < o.context; t += o.step) {
      const std::size_t n = std::min(o.step, o.context - 1 - t);
      const auto in = win.subspan(t, n);
      std::vector<float> base;
      for (std::size_t p = 0; p < specs.size(); ++p) {
        const auto t0 = clock_type::now();
        std::vector<float> logits = m.forward(in, caches[p], logits_mode::all);
        acc[p].seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
        require(logits.size() == n * vocab, "eval: forward returned ", logits.size(), " logits, expected ", n * vocab);
        if (p == 0) base = std::move(logits);
        for (std::size_t r = 0; r < n; ++r) {
          const std::int32_t target = win[t + r + 1];
          const float* b = base.data() + r * vocab;
          const float* x = (p == 0 ? base.data() : logits.data()) + r * vocab;
          log_softmax(b, vocab, lp0);
          log_softmax(x, vocab, lp);
          double kl = 0;
          for (std::size_t i = 0; i < vocab; ++i)
            if (lp0[i] > -745) kl += std::exp(lp0[i]) * (lp0[i] - lp[i]);
          acc[p].kl.push_back(std::max(0.0, kl));
          acc[p].nll -= lp[std::size_t(target)];
          const auto am0 = std::max_element(b, b + vocab) - b, am = std::max_element(x, x + vocab) - x;
          acc[p].agree += am0 == am;
        }
      }
      if (progress) progress("teacher-forced steps", ++done_steps, total_steps);
    }
  }

  const layer_shape sh = m.attention_shape();
  const double bf16_bytes_per_token = 2.0 * 2.0 * double(sh.kv_heads * sh.head_dim) * double(cfg.num_layers);
  std::vector<eval_result> results;
  const double base_ppl = std::exp(acc[0].nll / double(acc[0].kl.size()));
  for (std::size_t p = 0; p < specs.size(); ++p) {
    auto& a = acc[p];
    eval_result r;
    r.policy = specs[p];
    r.context = o.context;
    r.tokens_scored = a.kl.size();
    double sum = 0;
    for (double k : a.kl) sum += k;
    r.kl_mean = sum / double(a.kl.size());
    r.kl_ci95 = batch_means_ci95(a.kl);
    auto sorted = a.kl;
    std::sort(sorted.begin(), sorted.end());
    r.kl_p99 = sorted[std::min(sorted.size() - 1, std::size_t(std::ceil(0.99 * double(sorted.size()))) - 1)];
    r.kl_max = sorted.back();
    r.ppl = std::exp(a.nll / double(a.kl.size()));
    r.delta_ppl = r.ppl - base_ppl;
    r.top1_agreement = double(a.agree) / double(a.kl.size());
    const auto fp = caches[p].footprint();
    const double held = double(caches[p].size(0));
    r.device_bytes_per_token = double(fp.device_bytes) / held;
    r.host_bytes_per_token = double(fp.host_bytes) / held;
    r.metadata_bytes_per_token = double(fp.metadata_bytes) / held;
    r.compression_ratio = bf16_bytes_per_token / std::max(1e-9, r.device_bytes_per_token);
    r.seconds = a.seconds;
    results.push_back(r);
  }
  return results;
}

// ---- output --------------------------------------------------------------------------------------

namespace {
using support::fixed;
using support::sci;
const support::text_column<eval_result> columns[] = {
    {"policy", [](const eval_result& r) { return r.policy; }},
    {"context", [](const eval_result& r) { return std::to_string(r.context); }},
    {"scored", [](const eval_result& r) { return std::to_string(r.tokens_scored); }},
    {"device B/tok", [](const eval_result& r) { return fixed(r.device_bytes_per_token, 1); }},
    {"host B/tok", [](const eval_result& r) { return fixed(r.host_bytes_per_token, 1); }},
    {"ratio", [](const eval_result& r) { return fixed(r.compression_ratio, 2) + "x"; }},
    {"KL mean", [](const eval_result& r) { return sci(r.kl_mean); }},
    {"KL ±95%", [](const eval_result& r) { return sci(r.kl_ci95); }},
    {"KL p99", [](const eval_result& r) { return sci(r.kl_p99); }},
    {"PPL", [](const eval_result& r) { return fixed(r.ppl, 3); }},
    {"dPPL", [](const eval_result& r) {
       char buf[32];
       std::snprintf(buf, sizeof buf, "%+.4f", r.delta_ppl);
       return std::string(buf);
     }},
    {"top-1", [](const eval_result& r) { return fixed(r.top1_agreement, 4); }},
    {"seconds", [](const eval_result& r) { return fixed(r.seconds, 1); }},
};
}  // namespace

void write_eval_table(std::ostream& os, const std::vector<eval_result>& results) {
  support::write_text_table<eval_result>(os, columns, results);
}

void write_eval_json(std::ostream& os, const std::vector<eval_result>& results) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : results)
    out.push_back({{"policy", r.policy}, {"context", r.context}, {"tokens_scored", r.tokens_scored},
                   {"kl_mean", r.kl_mean}, {"kl_ci95", r.kl_ci95}, {"kl_p99", r.kl_p99}, {"kl_max", r.kl_max}, {"ppl", r.ppl},
                   {"delta_ppl", r.delta_ppl}, {"top1_agreement", r.top1_agreement},
                   {"device_bytes_per_token", r.device_bytes_per_token},
                   {"host_bytes_per_token", r.host_bytes_per_token},
                   {"metadata_bytes_per_token", r.metadata_bytes_per_token},
                   {"compression_ratio", r.compression_ratio}, {"seconds", r.seconds}});
  os << out.dump(2) << '\n';
}

void write_eval_csv(std::ostream& os, const std::vector<eval_result>& results) {
  os << "policy,context,tokens_scored,kl_mean,kl_ci95,kl_p99,kl_max,ppl,delta_ppl,top1_agreement,"
        "device_bytes_per_token,host_bytes_per_token,metadata_bytes_per_token,compression_ratio,seconds\n";
  os << std::setprecision(9);
  for (const auto& r : results)
    os << '"' << r.policy << "\"," << r.context << ',' << r.tokens_scored << ',' << r.kl_mean << ',' << r.kl_ci95 << ',' << r.kl_p99
       << ',' << r.kl_max << ',' << r.ppl << ',' << r.delta_ppl << ',' << r.top1_agreement << ','
       << r.device_bytes_per_token << ',' << r.host_bytes_per_token << ',' << r.metadata_bytes_per_token << ','
       << r.compression_ratio << ',' << r.seconds << '\n';
}

// ---- passkey -------------------------------------------------------------------------------------

std::vector<needle_result> run_needle(const model& m, const needle_options& o,
                                      const std::function<std::vector<std::int32_t>(std::string_view)>& encode,
                                      const std::function<std::string(std::span<const std::int32_t>)>& decode,
                                      const eval_progress& progress, const cache_factory& factory) {
  const auto make = [&](const std::string& spec) { return factory ? factory(spec) : m.make_cache(spec); };
  const std::string filler =
      "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
  const std::size_t filler_ids = std::max<std::size_t>(1, encode(filler).size());
  const std::size_t repeats = std::max<std::size_t>(1, o.filler_tokens / filler_ids);
  std::mt19937_64 rng(o.seed);
  std::vector<needle_result> out;
  std::size_t done = 0;
  const std::size_t total = o.depths.size() * o.policies.size();
  for (double depth : o.depths) {
    const std::string key = std::to_string(10000 + rng() % 90000);
    std::string text = "There is an important piece of information hidden inside a lot of irrelevant text. "
                       "Find it and memorize it.\n";
    const std::size_t at = std::size_t(std::clamp(depth, 0.0, 1.0) * double(repeats));
    for (std::size_t i = 0; i <= repeats; ++i) {
      if (i == at) text += "The pass key is " + key + ". Remember it. " + key + " is the pass key. ";
      if (i < repeats) text += filler;
    }
    text += "\nWhat is the pass key? The pass key is";
    const auto prompt = encode(text);
    for (const auto& spec : o.policies) {
      auto cache = make(spec);
      std::vector<float> logits;
      for (std::size_t t = 0; t < prompt.size(); t += 256) {
        const std::size_t n = std::min<std::size_t>(256, prompt.size() - t);
        logits = m.forward(std::span<const std::int32_t>(prompt).subspan(t, n), cache,
                           t + n == prompt.size() ? logits_mode::last : logits_mode::none);
      }
      std::vector<std::int32_t> answer;
      for (int i = 0; i < o.answer_tokens; ++i) {
        const auto id = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        answer.push_back(id);
        const std::int32_t one[1] = {id};
        logits = m.forward(one, cache, logits_mode::last);
      }
      needle_result r;
      r.policy = spec;
      r.depth = depth;
      r.passkey = key;
      r.answer = decode(answer);
      r.found = r.answer.find(key) != std::string::npos;
      out.push_back(r);
      if (progress) progress("passkey", ++done, total);
    }
  }
  return out;
}

}  // namespace kvc::qwen3
