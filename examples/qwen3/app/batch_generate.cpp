// Batched generation: shared prefix once + fork, varlen prefill of the remainders, batched decode.
#include "app/batch_generate.hpp"

#include <algorithm>
#include <chrono>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {
namespace {

using tokens_view = std::span<const std::int32_t>;

/// Prompt i's sequence.
kvc::seq_id sequence_of(std::size_t prompt) { return kvc::seq_id(std::uint32_t(prompt + 1)); }

/// Row `row` of logits // [rows, vocab].
std::span<const float> row_of(const std::vector<float>& logits, std::size_t row, std::size_t vocab) {
  return std::span<const float>(logits).subspan(row * vocab, vocab);
}

void require_sequences(const kvc::kv_cache& cache) {
  for (int l = 0; l < cache.layers(); ++l)
    kvc::detail::require(cache.layer(l).supports_sequences(), "batched generation needs a policy that holds many ",
                         "sequences; layer ", l, "'s '", cache.spec(l), "' holds one");
}

}  // namespace

std::size_t batch_generation_stats::total_new_tokens() const {
  std::size_t n = 0;
  for (const std::size_t t : new_tokens) n += t;
  return n;
}

std::size_t shared_prefix_length(std::span<const std::vector<std::int32_t>> prompts) {
  if (prompts.empty()) return 0;
  std::size_t n = prompts[0].size();
  for (const auto& p : prompts) {
    n = std::min(n, p.size());
    n = std::size_t(std::mismatch(p.begin(), p.begin() + std::ptrdiff_t(n), prompts[0].begin()).first - p.begin());
  }
  std::size_t shortest = prompts[0].size();
  for (const auto& p : prompts) shortest = std::min(shortest, p.size());
  return shortest == 0 ? 0 : std::min(n, shortest - 1);
}

batch_generation_stats generate_batch(const model& m, kvc::kv_cache& cache,
                                      std::span<const std::vector<std::int32_t>> prompts,
                                      std::span<const token_picker> picks, const batch_generation_options& o,
                                      std::vector<std::vector<std::int32_t>>& generated) {
  using clock = std::chrono::steady_clock;
  const std::size_t n = prompts.size();
  kvc::detail::require(n > 0, "generate_batch: no prompts");
  kvc::detail::require(picks.size() == n, "generate_batch: ", picks.size(), " pickers for ", n, " prompts");
  kvc::detail::require(o.prefill_chunk > 0, "generate_batch: prefill_chunk must be positive");
  for (std::size_t i = 0; i < n; ++i) {
    kvc::detail::require(!prompts[i].empty(), "generate_batch: prompt ", i, " has no tokens");
    kvc::detail::require(cache.size(0, sequence_of(i)) == 0, "generate_batch: the cache already holds sequence ",
                         kvc::to_string(sequence_of(i)));
  }
  kvc::detail::require(cache.size(0, kvc::default_seq) == 0, "generate_batch: the cache's default sequence is not empty");
  require_sequences(cache);

  batch_generation_stats s;
  const auto V = std::size_t(m.config().vocab_size);
  const std::size_t chunk = std::size_t(o.prefill_chunk);
  s.shared_prefix_tokens = shared_prefix_length(prompts);
  std::size_t total = s.shared_prefix_tokens, done = 0;
  for (const auto& p : prompts) total += p.size() - s.shared_prefix_tokens;
  const auto t0 = clock::now();

  // The shared prefix, once, in the default sequence; then forked into every prompt's sequence.
  const tokens_view prefix = tokens_view(prompts[0]).first(s.shared_prefix_tokens);
  for (std::size_t i = 0; i < prefix.size(); i += chunk) {
    const auto part = prefix.subspan(i, std::min(chunk, prefix.size() - i));
    m.forward(part, cache, logits_mode::none);
    done += part.size();
    if (o.on_prefill_progress) o.on_prefill_progress(done, total);
  }
  s.after_prefix = cache.footprint();
  if (!prefix.empty()) {
    for (std::size_t i = 0; i < n; ++i) cache.fork(kvc::default_seq, sequence_of(i));
    for (std::size_t i = 0; i < n; ++i) s.forks_counted_apart += cache.footprint(sequence_of(i));
  }
  if (cache.has_sequence(kvc::default_seq)) cache.remove(kvc::default_seq);
  s.after_fork = cache.footprint();

  // The remainders as varlen batches of at most `chunk` tokens: each call takes the next tokens
  // of every prompt with some left, in order, until the chunk is full.
  std::vector<std::vector<float>> logits(n);
  std::vector<std::size_t> offset(n, s.shared_prefix_tokens);
  for (std::size_t i = 0; i < n; ++i) s.remainder_tokens.push_back(prompts[i].size() - s.shared_prefix_tokens);
  std::vector<std::int32_t> tokens;
  std::vector<kvc::seq_run> runs;
  std::vector<std::size_t> members;  // the prompt of each run
  while (done < total) {
    tokens.clear(), runs.clear(), members.clear();
    for (std::size_t i = 0; i < n && tokens.size() < chunk; ++i) {
      const std::size_t take = std::min(prompts[i].size() - offset[i], chunk - tokens.size());
      if (take == 0) continue;
      tokens.insert(tokens.end(), prompts[i].begin() + std::ptrdiff_t(offset[i]),
                    prompts[i].begin() + std::ptrdiff_t(offset[i] + take));
      runs.push_back({sequence_of(i), take});
      members.push_back(i);
      offset[i] += take;
    }
    const auto out = m.forward_batch(tokens, runs, cache);
    for (std::size_t r = 0; r < members.size(); ++r) {
      const std::size_t i = members[r];
      if (offset[i] == prompts[i].size()) logits[i].assign(row_of(out, r, V).begin(), row_of(out, r, V).end());
    }
    done += tokens.size();
    if (o.on_prefill_progress) o.on_prefill_progress(done, total);
  }
  s.after_prefill = cache.footprint();
  const auto t1 = clock::now();
  s.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

  // Decode: each prompt picks from its logits; one forward_batch feeds the prompts still going.
  generated.assign(n, {});
  s.new_tokens.assign(n, 0);
  std::vector<std::size_t> running;
  for (std::size_t i = 0; i < n; ++i) {
    if (o.max_new_tokens > 0) running.push_back(i);
    else cache.remove(sequence_of(i));  // nothing to generate
  }
  while (!running.empty()) {
    tokens.clear(), runs.clear(), members.clear();
    for (const std::size_t i : running) {
      const std::int32_t next = picks[i](logits[i]);
      generated[i].push_back(next);
      ++s.new_tokens[i];
      const bool stop = std::find(o.stop_ids.begin(), o.stop_ids.end(), next) != o.stop_ids.end();
      if (stop || generated[i].size() == std::size_t(o.max_new_tokens)) {
        cache.remove(sequence_of(i));  // finished: it leaves the batch
        continue;
      }
      tokens.push_back(next);
      runs.push_back({sequence_of(i), 1});
      members.push_back(i);
    }
    running = members;
    if (running.empty()) break;
    const auto out = m.forward_batch(tokens, runs, cache);
    for (std::size_t r = 0; r < members.size(); ++r)
      logits[members[r]].assign(row_of(out, r, V).begin(), row_of(out, r, V).end());
    ++s.decode_steps;
    if (o.on_decode_progress) o.on_decode_progress(s.decode_steps, running.size());
  }
  if (o.on_decode_progress) o.on_decode_progress(s.decode_steps, 0);
  s.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return s;
}

}  // namespace kvc::qwen3
