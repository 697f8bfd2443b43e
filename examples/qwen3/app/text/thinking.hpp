// Splitting generated ids into the thinking part and the answer at the last </think>.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "app/text/tokenizer.hpp"

namespace kvc::qwen3 {

/// Generated ids cut at the last </think>.
struct thinking_split {
  std::vector<std::int32_t> thinking;  ///< ids before the last </think> (a leading <think> removed)
  std::vector<std::int32_t> answer;    ///< ids after it; empty when the block was never closed
  bool closed = false;                 ///< true when a </think> was found
};

/// Splits `ids` at the last `think_end_id`. Without one, everything is thinking and closed = false.
/// A leading `think_start_id` (if >= 0) is dropped from the thinking part.
thinking_split split_thinking(std::span<const std::int32_t> ids, std::int32_t think_end_id,
                              std::int32_t think_start_id = -1);

/// Same, with </think> and <think> looked up by name in `tok` (kvc::error when it has no </think>).
thinking_split split_thinking(std::span<const std::int32_t> ids, const tokenizer& tok);

/// The two parts as text, each decoded with special tokens skipped and surrounding newlines removed
/// (as the Qwen3 model card does).
struct thinking_text {
  std::string thinking;
  std::string answer;
  bool closed = false;
};
thinking_text split_thinking_text(std::span<const std::int32_t> ids, const tokenizer& tok);

}  // namespace kvc::qwen3
