// Byte-level BPE tokenizer read from a Hugging Face tokenizer.json (Qwen2/2.5/3 family).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kvc::qwen3 {

namespace detail {
struct tokenizer_impl;
}

/// A byte-level BPE tokenizer as described by a tokenizer.json of the GPT-2/Qwen family:
/// added tokens matched on the raw text first (leftmost, longest), then the normalizer (none or NFC),
/// the Split-regex + ByteLevel pre-tokenizer, and BPE merges by rank. No BOS/EOS is added.
/// Copies share the loaded tables. encode/decode are safe to call from several threads.
class tokenizer {
 public:
  /// Loads a tokenizer.json; kvc::error when the file is missing, unreadable, malformed or uses a
  /// feature this tokenizer does not implement (the message says which).
  static tokenizer from_file(const std::filesystem::path& tokenizer_json);
  /// Same as from_file, from the JSON text itself (the entry point for fuzzing).
  static tokenizer from_json(std::string_view json_text);

  /// Token ids of `text`. Ill-formed UTF-8 bytes are first replaced by U+FFFD (maximal subparts,
  /// like Python's bytes.decode("utf-8", errors="replace")), so the ids equal those Hugging Face
  /// `tokenizers` gives for that replaced string.
  std::vector<std::int32_t> encode(std::string_view text) const;

  /// The text of `ids` (ByteLevel decoder; bytes that do not form UTF-8 come out as U+FFFD).
  /// `skip_special` drops the tokens flagged "special" in added_tokens. kvc::error on an unknown id.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special = false) const;

  /// The raw bytes of one token (no UTF-8 repair); kvc::error on an unknown id.
  std::string_view token_bytes(std::int32_t id) const;

  /// The id of a token given by its vocabulary string (e.g. "</think>", "Ġthe"), if any.
  std::optional<std::int32_t> token_id(std::string_view token) const;

  /// The id of `token`; kvc::error naming it when the vocabulary does not hold it.
  std::int32_t require_token_id(std::string_view token) const;

  /// One past the largest token id (regular and added tokens), e.g. 151669 for Qwen3.
  std::size_t vocab_size() const;

  /// True for added tokens flagged "special" (e.g. <|im_end|>; not <think> or <tool_call>).
  bool is_special(std::int32_t id) const;

 private:
  explicit tokenizer(std::shared_ptr<detail::tokenizer_impl> impl);
  std::shared_ptr<detail::tokenizer_impl> impl_;
};

/// Turns a stream of generated ids into text, emitting only complete UTF-8 characters: the bytes of
/// a character split across tokens are held back until it is complete. Ill-formed bytes become U+FFFD.
class stream_decoder {
 public:
  explicit stream_decoder(const tokenizer& tok, bool skip_special = false);

  /// Appends one token; returns the text that became complete (possibly empty).
  std::string push(std::int32_t id);

  /// Returns whatever is still held (an unfinished character becomes U+FFFD) and clears it.
  std::string flush();

 private:
  tokenizer tok_;  // a cheap copy sharing the tables
  bool skip_special_;
  std::string pending_;
};

}  // namespace kvc::qwen3
