// Unicode NFC normalization of UTF-8 text (through utf8proc).
#pragma once

#include <string>
#include <string_view>

namespace kvc::qwen3::detail {

/// `text` in Normalization Form C. `text` must be valid UTF-8; kvc::error otherwise.
/// ASCII-only text is returned unchanged without calling utf8proc.
std::string nfc(std::string_view text);

}  // namespace kvc::qwen3::detail
