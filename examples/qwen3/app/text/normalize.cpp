// NFC through utf8proc_map (UTF8PROC_STABLE | UTF8PROC_COMPOSE).
#include "normalize.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>

#include "kvc/core/error.hpp"

namespace kvc::qwen3::detail {

std::string nfc(std::string_view text) {
  if (std::none_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
    return std::string(text);
  utf8proc_uint8_t* buffer = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                              static_cast<utf8proc_ssize_t>(text.size()), &buffer,
                              static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    std::free(buffer);
    kvc::detail::fail("NFC normalization failed: ", utf8proc_errmsg(n));
  }
  std::string out(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
  std::free(buffer);
  return out;
}

}  // namespace kvc::qwen3::detail
