// A GGUF's own tokenizer and chat template: tokenizer.ggml.* converted to a tokenizer.json that
// encodes as the pre-tokenizer it names, control/user tokens, tokenizer_config.json, and errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "app/gguf_tokenizer.hpp"
#include "app/text/byte_level.hpp"
#include "app/text/chat_format.hpp"
#include "app/text/tokenizer.hpp"
#include "kvc/core/error.hpp"
#include "support/gguf_builder.hpp"

using kvc::qwen3::tokenizer;

namespace {

/// What a GGUF's tokenizer block holds.
struct gguf_vocab {
  std::string model = "gpt2";
  std::string pre = "smollm";
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  std::vector<std::string> merges;
  std::uint32_t bos = 0, eos = 1;
  std::string chat_template;
};

/// A vocabulary of control tokens, a user-defined token, every byte and a few merges.
gguf_vocab tiny_vocab() {
  gguf_vocab v;
  v.tokens = {"<|im_start|>", "<|im_end|>", "<think>"};
  v.types = {3, 3, 4};
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(kvc::qwen3::detail::bytes_to_byte_level(std::string(1, static_cast<char>(b))));
    v.types.push_back(1);
  }
  for (const char* merged : {"ab", "abc", "12", "Ġabc"}) v.tokens.push_back(merged), v.types.push_back(1);
  v.merges = {"a b", "ab c", "1 2", "Ġ abc"};
  v.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
  return v;
}

kvc::test::gguf_builder builder(const gguf_vocab& v) {
  kvc::test::gguf_builder w;
  w.header(3, 0, 9);
  w.kv_str("tokenizer.ggml.model", v.model);
  w.kv_str("tokenizer.ggml.pre", v.pre);
  w.kv_str_array("tokenizer.ggml.tokens", v.tokens);
  w.kv_i32_array("tokenizer.ggml.token_type", v.types);
  w.kv_str_array("tokenizer.ggml.merges", v.merges);
  w.kv_u32("tokenizer.ggml.bos_token_id", v.bos);
  w.kv_u32("tokenizer.ggml.eos_token_id", v.eos);
  w.kv_bool("tokenizer.ggml.add_bos_token", false);
  w.kv_str("tokenizer.chat_template", v.chat_template);
  return w;
}

kvc::io::gguf_header build(const gguf_vocab& v) { return builder(v).parse(); }

/// The GGUF file of `v` at `path`, opened.
kvc::io::gguf_file write_file(const gguf_vocab& v, const std::filesystem::path& path) {
  REQUIRE(builder(v).write(path));
  return kvc::io::gguf_file::open(path);
}

tokenizer convert(const gguf_vocab& v) {
  const auto j = kvc::qwen3::gguf_to_hf_tokenizer(build(v), "tiny.gguf");
  REQUIRE(j.has_value());
  return tokenizer::from_json(j->dump());
}

std::int32_t id_of(const gguf_vocab& v, const std::string& token) {
  for (std::size_t i = 0; i < v.tokens.size(); ++i)
    if (v.tokens[i] == token) return static_cast<std::int32_t>(i);
  FAIL("no token " << token);
  return -1;
}

}  // namespace

TEST_CASE("gguf tokenizer: vocabulary, merges, control and user-defined tokens", "[gguf][tokenizer]") {
  const auto v = tiny_vocab();
  const auto tok = convert(v);
  CHECK(tok.vocab_size() == v.tokens.size());
  CHECK(tok.encode("abc") == std::vector<std::int32_t>{id_of(v, "abc")});
  CHECK(tok.encode("abc abc") == std::vector<std::int32_t>{id_of(v, "abc"), id_of(v, "Ġabc")});
  // control and user-defined tokens are matched whole on the raw text; only control ones are special
  CHECK(tok.encode("<|im_start|>ab<think>") == std::vector<std::int32_t>{0, id_of(v, "ab"), 2});
  CHECK(tok.is_special(0));
  CHECK(!tok.is_special(2));
  CHECK(tok.decode(tok.encode("abc abc<think>12")) == "abc abc<think>12");
  CHECK(tok.decode(tok.encode("<|im_end|>x"), /*skip_special=*/true) == "x");
}

TEST_CASE("gguf tokenizer: the pre-tokenizer follows tokenizer.ggml.pre", "[gguf][tokenizer]") {
  auto v = tiny_vocab();
  const auto one = id_of(v, kvc::qwen3::detail::bytes_to_byte_level("1"));
  const auto two = id_of(v, kvc::qwen3::detail::bytes_to_byte_level("2"));
  v.pre = "smollm";  // digits one by one: the "1 2" merge never applies
  CHECK(convert(v).encode("12") == std::vector<std::int32_t>{one, two});
  v.pre = "gpt-2";   // GPT-2 split keeps "12" in one piece, so the merge applies
  CHECK(convert(v).encode("12") == std::vector<std::int32_t>{id_of(v, "12")});
  v.pre = "qwen2";   // one digit per piece again, and NFC: "e" + U+0301 is one piece "é"
  CHECK(convert(v).encode("12") == std::vector<std::int32_t>{one, two});
  CHECK(convert(v).encode("e\xCC\x81") == convert(v).encode("\xC3\xA9"));
  v.pre = "llama-bpe";  // up to three digits together
  CHECK(convert(v).encode("12") == std::vector<std::int32_t>{id_of(v, "12")});
}

TEST_CASE("gguf tokenizer: tokenizer_config.json carries the template and special tokens", "[gguf][tokenizer]") {
  const auto v = tiny_vocab();
  const auto cfg = kvc::qwen3::gguf_to_hf_tokenizer_config(build(v), "tiny.gguf");
  REQUIRE(cfg.has_value());
  CHECK((*cfg)["bos_token"] == "<|im_start|>");
  CHECK((*cfg)["eos_token"] == "<|im_end|>");
  CHECK((*cfg)["add_bos_token"] == false);
  CHECK((*cfg)["chat_template"] == v.chat_template);

  const auto dir = std::filesystem::temp_directory_path() / "kvc_test_gguf_tokenizer";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json") << cfg->dump();
  const std::filesystem::path dirs[] = {dir};
  const auto chat = kvc::qwen3::chat_format::find(dirs);
  const std::vector<kvc::qwen3::chat_message> msgs = {{"user", "Hi", "", nullptr}};
  CHECK(chat.render(msgs) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  std::filesystem::remove_all(dir);
}

TEST_CASE("gguf tokenizer: what it cannot convert is a clear error", "[gguf][tokenizer]") {
  kvc::test::gguf_builder none;
  none.header(3, 0, 1);
  none.kv_str("general.architecture", "llama");
  CHECK(!kvc::qwen3::gguf_to_hf_tokenizer(none.parse(), "x.gguf").has_value());

  auto v = tiny_vocab();
  v.model = "llama";  // SentencePiece
  CHECK_THROWS_WITH(kvc::qwen3::gguf_to_hf_tokenizer(build(v), "x.gguf"),
                    Catch::Contains("x.gguf") && Catch::Contains("tokenizer.ggml.model 'llama' is not supported"));
  v = tiny_vocab();
  v.pre = "deepseek-coder";
  CHECK_THROWS_WITH(kvc::qwen3::gguf_to_hf_tokenizer(build(v), "x.gguf"),
                    Catch::Contains("tokenizer.ggml.pre 'deepseek-coder' is not supported"));
  v = tiny_vocab();
  v.types.pop_back();
  CHECK_THROWS_WITH(kvc::qwen3::gguf_to_hf_tokenizer(build(v), "x.gguf"), Catch::Contains("token_type"));
  v = tiny_vocab();
  v.bos = 100000;
  CHECK_THROWS_WITH(kvc::qwen3::gguf_to_hf_tokenizer_config(build(v), "x.gguf"),
                    Catch::Contains("bos_token_id 100000 is outside the vocabulary"));
  v = tiny_vocab();
  v.merges.push_back("zz q");  // "zz" is no token
  const auto j = kvc::qwen3::gguf_to_hf_tokenizer(build(v), "x.gguf");
  CHECK_THROWS_WITH(tokenizer::from_json(j->dump()), Catch::Contains("missing from the vocab"));
}

TEST_CASE("gguf tokenizer: a model whose tokenizer cannot be converted still imports", "[gguf][tokenizer]") {
  const auto dir = std::filesystem::temp_directory_path() / "kvc_test_gguf_write";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto v = tiny_vocab();
  CHECK(kvc::qwen3::write_gguf_tokenizer(write_file(v, dir / "bpe.gguf"), dir / "bpe"));
  CHECK(tokenizer::from_file(dir / "bpe" / "tokenizer.json").encode("abc") == convert(v).encode("abc"));
  CHECK(std::filesystem::exists(dir / "bpe" / "tokenizer_config.json"));

  v.model = "llama";  // SentencePiece: no tokenizer files, no failure (the weights still import)
  CHECK_FALSE(kvc::qwen3::write_gguf_tokenizer(write_file(v, dir / "spm.gguf"), dir / "spm"));
  CHECK_FALSE(std::filesystem::exists(dir / "spm" / "tokenizer.json"));
  std::filesystem::remove_all(dir);
}
