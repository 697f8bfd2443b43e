// Token inputs (text through the tokenizer, or id files) and the progress bar of the kvc-qwen3 subcommands.
#include "app/cli_input.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "kvc/core/error.hpp"

#ifdef KVC_QWEN3_HAVE_TEXT
#include "app/text/tokenizer.hpp"
#endif

namespace kvc::qwen3 {

namespace fs = std::filesystem;

void progress_bar(std::string_view what, std::size_t done, std::size_t total) {
  static const bool tty = isatty(fileno(stderr));
  if (!tty || total == 0) return;
  const int width = 30, filled = int(double(width) * double(done) / double(total));
  std::fprintf(stderr, "\r\033[K[%.*s%.*s] %zu/%zu %.*s", filled, "##############################", width - filled,
               "                              ", done, total, int(what.size()), what.data());
  if (done == total) std::fputc('\n', stderr);
  std::fflush(stderr);
}

fs::path find_tokenizer(const fs::path& model_dir, const fs::path& tokenizer_file) {
  if (!tokenizer_file.empty()) return tokenizer_file;
  if (fs::exists(model_dir / "tokenizer.json")) return model_dir / "tokenizer.json";
  return {};
}

namespace {

std::vector<std::int32_t> read_token_ids(const fs::path& path) {
  std::ifstream in(path);
  kvc::detail::require(bool(in), "cannot read --tokens-file ", path.string());
  std::vector<std::int32_t> ids;
  std::string item;
  while (in >> item) {
    std::stringstream ss(item);
    std::string part;
    while (std::getline(ss, part, ',')) {
      if (part.empty()) continue;
      std::size_t used = 0;
      long v = -1;
      try {
        v = std::stol(part, &used);
      } catch (const std::exception&) {
      }
      kvc::detail::require(used == part.size() && v >= 0, path.string(), ": '", part, "' is not a token id");
      ids.push_back(std::int32_t(v));
    }
  }
  return ids;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  kvc::detail::require(bool(in), "cannot read --text ", path.string());
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

std::vector<std::int32_t> load_tokens(const fs::path& model_dir, const fs::path& text_file, const fs::path& tokens_file,
                                      const fs::path& tokenizer_file, int vocab_size) {
  std::vector<std::int32_t> tokens;
  if (!text_file.empty()) {
#ifdef KVC_QWEN3_HAVE_TEXT
    const fs::path tok = find_tokenizer(model_dir, tokenizer_file);
    kvc::detail::require(!tok.empty(), "--text needs a tokenizer: pass --tokenizer FILE");
    tokens = tokenizer::from_file(tok).encode(read_text(text_file));
#else
    (void)model_dir;
    (void)tokenizer_file;
    kvc::detail::fail("this kvc-qwen3 was built without the tokenizer: use --tokens-file");
#endif
  } else if (!tokens_file.empty()) {
    tokens = read_token_ids(tokens_file);
  } else {
    kvc::detail::fail("one of --text or --tokens-file is required");
  }
  for (auto id : tokens)
    kvc::detail::require(id < vocab_size, "token id ", id, " is outside the vocabulary (", vocab_size, ")");
  return tokens;
}

}  // namespace kvc::qwen3
