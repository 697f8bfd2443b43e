// What the kvc-qwen3 subcommands share on the command line: token inputs and a terminal progress bar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace kvc::qwen3 {

/// A progress bar on stderr, drawn only when stderr is a terminal: (what, done, total).
void progress_bar(std::string_view what, std::size_t done, std::size_t total);

/// The tokenizer to use: `tokenizer_file` when given, else `model_dir`/tokenizer.json when it
/// exists, else empty.
std::filesystem::path find_tokenizer(const std::filesystem::path& model_dir,
                                     const std::filesystem::path& tokenizer_file);

/// Token ids from exactly one of `text_file` (encoded with find_tokenizer's tokenizer) or
/// `tokens_file` (ids separated by whitespace or commas), each checked to be below `vocab_size`.
/// Throws kvc::error naming the file and the bad item, or the missing input or tokenizer.
std::vector<std::int32_t> load_tokens(const std::filesystem::path& model_dir, const std::filesystem::path& text_file,
                                      const std::filesystem::path& tokens_file,
                                      const std::filesystem::path& tokenizer_file, int vocab_size);

}  // namespace kvc::qwen3
