// Thinking/answer split at the last </think> token.
#include "thinking.hpp"

#include <algorithm>
#include <string_view>

namespace kvc::qwen3 {

thinking_split split_thinking(std::span<const std::int32_t> ids, std::int32_t think_end_id,
                              std::int32_t think_start_id) {
  thinking_split out;
  const auto rit = std::find(ids.rbegin(), ids.rend(), think_end_id);
  auto think_begin = ids.begin();
  auto think_end = ids.end();
  if (rit != ids.rend()) {
    out.closed = true;
    think_end = rit.base() - 1;  // the </think> itself
    out.answer.assign(rit.base(), ids.end());
  }
  if (think_start_id >= 0 && think_begin != think_end && *think_begin == think_start_id) ++think_begin;
  out.thinking.assign(think_begin, think_end);
  return out;
}

thinking_split split_thinking(std::span<const std::int32_t> ids, const tokenizer& tok) {
  const auto end_id = tok.require_token_id("</think>");
  const auto start_id = tok.token_id("<think>");
  return split_thinking(ids, end_id, start_id.value_or(-1));
}

namespace {
std::string strip_newlines(std::string s) {
  const auto b = s.find_first_not_of('\n');
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of('\n');
  return s.substr(b, e - b + 1);
}
}  // namespace

thinking_text split_thinking_text(std::span<const std::int32_t> ids, const tokenizer& tok) {
  const auto parts = split_thinking(ids, tok);
  return {strip_newlines(tok.decode(parts.thinking, true)), strip_newlines(tok.decode(parts.answer, true)),
          parts.closed};
}

}  // namespace kvc::qwen3
