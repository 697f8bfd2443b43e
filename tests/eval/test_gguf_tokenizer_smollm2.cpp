// SmolLM2-Instruct's GGUF (tools/fetch_smollm2.py) read by kvc: its tokenizer encodes every golden
// string as Hugging Face `tokenizers` does (tools/make_gguf_tokenizer_goldens.py), and its chat
// template renders the model's conversation format (skips when the GGUF is absent).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/gguf_tokenizer.hpp"
#include "app/text/chat_format.hpp"
#include "app/text/tokenizer.hpp"
#include "kvc/io/gguf.hpp"
#include "support/skip.hpp"
#include "tokenizer/encode_goldens.hpp"

namespace {

std::filesystem::path smollm2_gguf() {
  if (const char* env = std::getenv("KVC_SMOLLM2_GGUF")) return env;
  return "models/SmolLM2-135M-Instruct.Q4_1.gguf";  // tests run in the repository root
}

}  // namespace

TEST_CASE("SmolLM2's GGUF tokenizer and chat template", "[gguf][tokenizer][smollm2]") {
  const auto path = smollm2_gguf();
  if (!std::filesystem::exists(path)) kvc::test::skip("no SmolLM2 GGUF at " + path.string() + " (tools/fetch_smollm2.py)");
  const auto file = kvc::io::gguf_file::open(path);
  const auto j = kvc::qwen3::gguf_to_hf_tokenizer(file.header(), path.string());
  REQUIRE(j.has_value());
  const auto tok = kvc::qwen3::tokenizer::from_json(j->dump());
  CHECK(tok.vocab_size() == 49152);

  const auto goldens = kvc::test::load_json(kvc::test::data_dir() / "tokenizer" / "smollm2_goldens.json");
  CHECK(kvc::test::check_encode_goldens(tok, goldens) >= 200);

  const auto dir = std::filesystem::temp_directory_path() / "kvc_test_smollm2_template";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json") << kvc::qwen3::gguf_to_hf_tokenizer_config(file.header(), path.string())->dump();
  const std::filesystem::path dirs[] = {dir};
  const auto chat = kvc::qwen3::chat_format::find(dirs);
  const std::vector<kvc::qwen3::chat_message> msgs = {{"user", "What is the capital of France?", "", nullptr}};
  // the template's default system prompt when none is given, ChatML turns, the generation prompt
  CHECK(chat.render(msgs) ==
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n");
  std::filesystem::remove_all(dir);
}
