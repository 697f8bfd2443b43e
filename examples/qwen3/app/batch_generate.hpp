// Batched generation over many sequences of one cache: the prompts' shared prefix prefilled once and
// forked, their remainders prefilled as varlen batches, then one forward_batch per decode step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "app/generate.hpp"
#include "kvc/core/accounting.hpp"
#include "model/model.hpp"

namespace kvc::qwen3 {

struct batch_generation_options {
  int max_new_tokens = 128;            // per prompt
  std::vector<std::int32_t> stop_ids;  // a prompt's generation ends after emitting one of these
  int prefill_chunk = 256;             // tokens per forward call during prefill (all runs of a call together)
  /// Called after each prefill call with (tokens done, total), the shared prefix included.
  std::function<void(std::size_t, std::size_t)> on_prefill_progress;
  /// Called after each decode step with (steps done, prompts still generating), and with 0 still
  /// generating at the end.
  std::function<void(std::size_t, std::size_t)> on_decode_progress;
};

struct batch_generation_stats {
  std::size_t shared_prefix_tokens = 0;         // prefilled once, then forked into every prompt's sequence
  std::vector<std::size_t> remainder_tokens;    // per prompt: prefilled after the fork
  std::size_t decode_steps = 0;                 // forward_batch calls after the prefill
  std::vector<std::size_t> new_tokens;          // per prompt: tokens generated
  kvc::memory_footprint after_prefix;           // the cache holding the shared prefix in one sequence
  kvc::memory_footprint after_fork;             // ... forked into every prompt's sequence (pages shared)
  kvc::memory_footprint forks_counted_apart;    // the forks' footprints summed, each counting the shared pages
  kvc::memory_footprint after_prefill;          // ... with every remainder appended
  double prefill_seconds = 0;
  double decode_seconds = 0;  // excludes each prompt's first token, which comes out of the prefill
  std::size_t total_new_tokens() const;
};

/// The longest token prefix all `prompts` share, kept shorter than the shortest prompt so that
/// every prompt has at least one token of its own (whose logits start its generation).
std::size_t shared_prefix_length(std::span<const std::vector<std::int32_t>> prompts);

/// Generates for every prompt at once in `cache` (which must hold none of sequences 0..N): the
/// shared prefix is prefilled into sequence 0 and forked into sequences 1..N (prompt i in
/// sequence i + 1), sequence 0 removed; the remainders are prefilled as varlen batches of at most
/// prefill_chunk tokens; then each decode step is one forward_batch over the prompts still
/// generating. A prompt stops after a stop id or max_new_tokens; its sequence is then removed, so
/// the cache is empty again at the end. picks // [N]: one picker per prompt (each sees only its
/// prompt's logits). generated[i] receives prompt i's tokens. Throws kvc::error for an empty list,
/// an empty prompt, a picker count that differs, or a policy without sequences (kvc::sequence_policy).
batch_generation_stats generate_batch(const model& m, kvc::kv_cache& cache,
                                      std::span<const std::vector<std::int32_t>> prompts,
                                      std::span<const token_picker> picks, const batch_generation_options& options,
                                      std::vector<std::vector<std::int32_t>>& generated);

}  // namespace kvc::qwen3
