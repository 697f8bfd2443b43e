// Chunked prefill + decode loop with timing, shared by the CLI's one-shot and chat modes.
#include "app/generate.hpp"

#include <algorithm>
#include <chrono>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {

generation_stats generate(const model& m, kvc::kv_cache& cache, std::span<const std::int32_t> prompt,
                          const token_picker& pick, const generation_options& o,
                          std::vector<std::int32_t>* generated) {
  using clock = std::chrono::steady_clock;
  kvc::detail::require(!prompt.empty(), "generate: the prompt has no tokens");
  kvc::detail::require(o.prefill_chunk > 0, "generate: prefill_chunk must be positive");
  generation_stats s;
  s.prompt_tokens = prompt.size();
  const auto t0 = clock::now();
  std::vector<float> logits;
  for (std::size_t i = 0; i < prompt.size(); i += std::size_t(o.prefill_chunk)) {
    const auto n = std::min(std::size_t(o.prefill_chunk), prompt.size() - i);
    const bool last = i + n == prompt.size();
    logits = m.forward(prompt.subspan(i, n), cache, last ? logits_mode::last : logits_mode::none);
    if (o.on_prefill_progress) o.on_prefill_progress(i + n, prompt.size());
  }
  const auto t1 = clock::now();
  s.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  for (int step = 0; step < o.max_new_tokens; ++step) {
    const std::int32_t next = pick(logits);
    ++s.new_tokens;
    if (generated) generated->push_back(next);
    const bool go_on = o.on_token ? o.on_token(next) : true;
    if (!go_on || std::find(o.stop_ids.begin(), o.stop_ids.end(), next) != o.stop_ids.end()) break;
    if (step + 1 == o.max_new_tokens) break;
    const std::int32_t one[] = {next};
    logits = m.forward(one, cache, logits_mode::last);
  }
  s.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return s;
}

}  // namespace kvc::qwen3
