// A compiled PCRE2 pattern (UTF + UCP, JIT when available) that lists its matches in a string.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvc::qwen3::detail {

/// A PCRE2 regular expression over UTF-8 text with Unicode properties (\p{L}, \s, ...).
/// Matching is const and thread-safe (each call uses its own match data).
class regex {
 public:
  /// Compiles `pattern` (a literal string when `literal`); kvc::error with PCRE2's message when invalid.
  regex(std::string_view pattern, bool literal);
  ~regex();
  regex(const regex&) = delete;
  regex& operator=(const regex&) = delete;

  /// Non-overlapping matches, left to right, as [begin, end) byte offsets. `subject` must be valid UTF-8.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view subject) const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace kvc::qwen3::detail
