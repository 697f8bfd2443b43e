// Teacher-forced policy evaluation on a model: KL divergence, ΔPPL and top-1 agreement of each
// policy's next-token distributions against a full-cache baseline, plus cache bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/cache.hpp"
#include "model/model.hpp"

namespace kvc::qwen3 {

/// What run_eval measures. Each window of `context` tokens is run through the baseline and every
/// policy in lockstep: the first `prefill` tokens are prefilled (chunks of `prefill_chunk`,
/// logits not needed), then the rest are fed `step` tokens per forward call (step = 1 is
/// decode: every scored token reads the policy's stored form of all earlier tokens). Each row
/// whose next token lies in the window is scored.
struct eval_options {
  std::vector<std::string> policies{"full:bf16"};
  std::string baseline = "full:bf16";
  std::size_t context = 512;
  std::size_t prefill = 0;          // 0: context / 2
  std::size_t prefill_chunk = 256;
  std::size_t step = 1;
  std::size_t max_windows = 1;      // windows taken from the start of the tokens, back to back
};

/// One policy's numbers, over all scored tokens of all windows.
struct eval_result {
  std::string policy;
  std::size_t context = 0;
  std::size_t tokens_scored = 0;
  double kl_mean = 0;           // mean KL(p_baseline ‖ p_policy), nats
  double kl_ci95 = 0;           // half-width of a 95% confidence interval on kl_mean (batch_means_ci95)
  double kl_p99 = 0;            // 99th percentile of the per-token KL
  double kl_max = 0;
  double ppl = 0;               // exp(mean NLL of the true next token)
  double delta_ppl = 0;         // ppl − baseline ppl
  double top1_agreement = 0;    // fraction of tokens whose argmax equals the baseline's
  double device_bytes_per_token = 0;  // footprint after the last window ÷ tokens held (all layers)
  double host_bytes_per_token = 0;
  double metadata_bytes_per_token = 0;
  double compression_ratio = 0;       // bf16 full-cache bytes per token ÷ device bytes per token
  double seconds = 0;                 // forward time of this policy (all windows)
};

/// Builds the cache a spec names; the default is model::make_cache. Tests pass their own to run
/// policies that the registry does not know.
using cache_factory = std::function<kvc::kv_cache(const std::string& spec)>;

/// Progress: (what, done, total).
using eval_progress = std::function<void(std::string_view, std::size_t, std::size_t)>;

/// Runs the evaluation over `tokens` // [n]; needs n >= context (one window at least) and
/// prefill < context. The baseline row comes first in the result, then one row per policy (a
/// policy equal to the baseline spec is run again, not copied). Throws kvc::error on bad options.
/// Half-width of a 95% confidence interval on the mean of `x` by batch means: consecutive
/// blocks of `block` values (the last partial block dropped) are averaged, and the interval is
/// t(0.975, b − 1) × sd(block means) / √b over the b blocks. Neighbouring tokens' KL values are
/// correlated, so a per-token interval would be too narrow; blocks of 32 tokens are nearly
/// independent. 0 with fewer than two blocks.
double batch_means_ci95(std::span<const double> x, std::size_t block = 32);

std::vector<eval_result> run_eval(const model& m, std::span<const std::int32_t> tokens,
                                  const eval_options& options, const eval_progress& progress = {},
                                  const cache_factory& make_cache = {});

/// Result forms: aligned table, JSON array, CSV (same fields).
void write_eval_table(std::ostream& os, const std::vector<eval_result>& results);
void write_eval_json(std::ostream& os, const std::vector<eval_result>& results);
void write_eval_csv(std::ostream& os, const std::vector<eval_result>& results);

/// Needle-in-a-haystack (passkey) check: a filler text with "The pass key is K. Remember it."
/// inserted at a relative depth, then "What is the pass key? The pass key is"; the answer is
/// decoded greedily and passes when it contains K.
struct needle_options {
  std::vector<std::string> policies{"full:bf16"};
  std::vector<double> depths{0.1, 0.5, 0.9};
  std::size_t filler_tokens = 1024;  // approximate haystack length
  std::uint64_t seed = 1;            // picks the passkeys
  int answer_tokens = 8;
};
struct needle_result {
  std::string policy;
  double depth = 0;
  std::string passkey;
  std::string answer;
  bool found = false;
};
/// Tokenization is passed in: encode(text) -> ids and decode(ids) -> text.
std::vector<needle_result> run_needle(
    const model& m, const needle_options& options,
    const std::function<std::vector<std::int32_t>(std::string_view)>& encode,
    const std::function<std::string(std::span<const std::int32_t>)>& decode,
    const eval_progress& progress = {}, const cache_factory& make_cache = {});

}  // namespace kvc::qwen3
