// PCRE2 wrapper used by the tokenizer's pre-tokenizer and added-token matcher.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.hpp"

#include <pcre2.h>

#include <cstdint>

#include "kvc/core/error.hpp"

namespace kvc::qwen3::detail {

struct regex::state {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~state() {
    if (code) pcre2_code_free(code);
  }
};

regex::regex(std::string_view pattern, bool literal) : state_(std::make_unique<state>()) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  std::uint32_t options = PCRE2_UTF | PCRE2_UCP;  // the pattern's UTF-8 is checked
  if (literal) options |= PCRE2_LITERAL;
  state_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                               &error_code, &error_offset, nullptr);
  if (!state_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof message);
    kvc::detail::fail("tokenizer: cannot compile regex at offset ", error_offset, ": ",
                      reinterpret_cast<const char*>(message));
  }
  state_->jit = pcre2_jit_compile(state_->code, PCRE2_JIT_COMPLETE) == 0;
}

regex::~regex() = default;

std::vector<std::pair<std::size_t, std::size_t>> regex::find_all(std::string_view subject) const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(state_->code, nullptr), &pcre2_match_data_free);
  kvc::detail::require(data != nullptr, "tokenizer: out of memory for regex match data");
  const auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
  std::size_t offset = 0;
  while (offset < subject.size()) {
    const int rc = state_->jit
                       ? pcre2_jit_match(state_->code, text, subject.size(), offset, 0, data.get(), nullptr)
                       : pcre2_match(state_->code, text, subject.size(), offset, PCRE2_NO_UTF_CHECK,
                                     data.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      kvc::detail::fail("tokenizer: regex match failed: ", reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.get());
    const std::size_t begin = ov[0], end = ov[1];
    if (end == begin) {  // an empty match: step over one whole character and go on
      std::size_t next = begin + 1;
      while (next < subject.size() && (static_cast<unsigned char>(subject[next]) & 0xC0) == 0x80) ++next;
      offset = next;
      continue;
    }
    out.emplace_back(begin, end);
    offset = end;
  }
  return out;
}

}  // namespace kvc::qwen3::detail
