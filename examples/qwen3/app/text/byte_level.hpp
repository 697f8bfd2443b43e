// The GPT-2 byte-to-unicode map used by byte-level BPE (each byte <-> one printable code point).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvc::qwen3::detail {

/// Code point standing for each byte: printable Latin-1 bytes map to themselves, the other 68
/// bytes (0-32, 127-160, 173) in increasing order to U+0100, U+0101, ...
inline const std::array<char32_t, 256>& byte_to_codepoint() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

/// Appends the UTF-8 encoding of code point `cp` (< 0x800 suffices here, but any scalar works).
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// The byte-level spelling of raw bytes (e.g. " the" -> "Ġthe").
inline std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  const auto& table = byte_to_codepoint();
  for (char c : bytes) append_utf8(out, table[static_cast<unsigned char>(c)]);
  return out;
}

}  // namespace kvc::qwen3::detail
