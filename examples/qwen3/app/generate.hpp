// The generation loop of the CLI: chunked prefill with a progress callback, then token-by-token decode.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/model.hpp"

namespace kvc::qwen3 {

/// Picks the next token from logits // [vocab]
using token_picker = std::function<std::int32_t(std::span<const float> logits)>;

struct generation_options {
  int max_new_tokens = 128;
  std::vector<std::int32_t> stop_ids;  // generation ends after emitting one of these
  int prefill_chunk = 256;             // tokens per forward call during prefill
  /// Called after each prefill chunk with (tokens done, total).
  std::function<void(std::size_t, std::size_t)> on_prefill_progress;
  /// Called with each generated token; return false to stop.
  std::function<bool(std::int32_t)> on_token;
};

struct generation_stats {
  std::size_t prompt_tokens = 0;
  std::size_t new_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;  // excludes the first token, which comes out of the prefill
  double prefill_tokens_per_second() const { return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0; }
  double decode_tokens_per_second() const {
    return decode_seconds > 0 && new_tokens > 1 ? double(new_tokens - 1) / decode_seconds : 0;
  }
};

/// Appends `prompt` // [n] to `cache` (after whatever it holds) and generates up to
/// max_new_tokens tokens with `pick`. Returns the generated ids and timings.
generation_stats generate(const model& m, kvc::kv_cache& cache, std::span<const std::int32_t> prompt,
                          const token_picker& pick, const generation_options& options,
                          std::vector<std::int32_t>* generated = nullptr);

}  // namespace kvc::qwen3
