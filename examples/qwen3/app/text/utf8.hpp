// UTF-8 validation helpers: Unicode "maximal subpart" replacement of ill-formed bytes by U+FFFD.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kvc::qwen3::detail {

/// What the next bytes of a buffer hold.
enum class utf8_step_kind { valid, invalid, incomplete };

/// One step of a UTF-8 decoder: `length` bytes starting at `pos` form a valid scalar, an ill-formed
/// maximal subpart (to be replaced by one U+FFFD), or a valid prefix cut short by the end of `s`.
struct utf8_step {
  utf8_step_kind kind;
  std::size_t length;
};

/// Classifies the bytes at `pos` (pos < s.size()) per Unicode Table 3-7 (well-formed sequences).
inline utf8_step next_utf8_step(std::string_view s, std::size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) return {utf8_step_kind::valid, 1};
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {utf8_step_kind::invalid, 1};
  }
  for (std::size_t i = 1; i <= need; ++i) {
    if (pos + i >= s.size()) return {utf8_step_kind::incomplete, i};
    const auto b = static_cast<unsigned char>(s[pos + i]);
    const unsigned char l = (i == 1) ? lo : 0x80;
    const unsigned char h = (i == 1) ? hi : 0xBF;
    if (b < l || b > h) return {utf8_step_kind::invalid, i};
  }
  return {utf8_step_kind::valid, need + 1};
}

inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";

/// True when `s` is well-formed UTF-8.
inline bool is_valid_utf8(std::string_view s) {
  for (std::size_t pos = 0; pos < s.size();) {
    const auto st = next_utf8_step(s, pos);
    if (st.kind != utf8_step_kind::valid) return false;
    pos += st.length;
  }
  return true;
}

/// `s` with every ill-formed subsequence replaced by U+FFFD, as Python's
/// bytes.decode("utf-8", errors="replace") and Rust's String::from_utf8_lossy do.
inline std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) {
    const auto st = next_utf8_step(s, pos);
    if (st.kind == utf8_step_kind::valid) {
      out.append(s.substr(pos, st.length));
    } else {
      out.append(replacement_character);
    }
    pos += st.length;
  }
  return out;
}

}  // namespace kvc::qwen3::detail
