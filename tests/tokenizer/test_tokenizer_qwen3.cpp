// The real Qwen3 tokenizer and chat template (../shared/data/qwen3/) against Hugging Face goldens.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/text/jinja.hpp"
#include "app/text/normalize.hpp"
#include "app/text/thinking.hpp"
#include "app/text/tokenizer.hpp"
#include "app/text/utf8.hpp"
#include "kvc/core/error.hpp"
#include "support/skip.hpp"
#include "tokenizer/encode_goldens.hpp"

using kvc::qwen3::tokenizer;

namespace {

const tokenizer& qwen3() {
  static const tokenizer tok = [] {
    const auto path = kvc::test::shared_dir() / "data/qwen3/tokenizer.json";
    if (!std::filesystem::exists(path)) kvc::test::skip("no Qwen3 tokenizer at " + path.string());
    return tokenizer::from_file(path);
  }();
  return tok;
}

const nlohmann::json& goldens() {
  static const nlohmann::json j = kvc::test::load_json(kvc::test::data_dir() / "tokenizer" / "encode_goldens.json");
  return j;
}

using kvc::test::from_hex;

}  // namespace

TEST_CASE("Qwen3 vocabulary and added tokens", "[tokenizer][qwen3]") {
  const auto& tok = qwen3();
  CHECK(tok.vocab_size() == 151669);
  CHECK(tok.token_id("</think>") == 151668);
  CHECK(tok.token_id("<think>") == 151667);
  CHECK(tok.token_id("<|im_end|>") == 151645);
  CHECK(tok.is_special(151645));
  CHECK(tok.is_special(151643));
  CHECK_FALSE(tok.is_special(151667));  // <think> is added but not special
  CHECK_FALSE(tok.is_special(151657));  // <tool_call>
  CHECK_FALSE(tok.token_id("<|no such token|>").has_value());
  CHECK_THROWS_WITH(tok.require_token_id("<|no such token|>"), Catch::Contains("<|no such token|>"));
  CHECK_THROWS_AS(tok.decode(std::vector<std::int32_t>{151669}), kvc::error);
}

TEST_CASE("Qwen3 encode matches Hugging Face ids for every golden string", "[tokenizer][qwen3]") {
  const auto& tok = qwen3();
  const auto& cases = goldens().at("cases");
  REQUIRE(cases.size() >= 200);
  int invalid = 0;
  for (const auto& c : cases) {
    const auto text = from_hex(c.at("hex").get<std::string>());
    INFO("case " << c.at("name").get<std::string>());
    CHECK(tok.encode(text) == c.at("ids").get<std::vector<std::int32_t>>());
    CHECK(kvc::qwen3::detail::is_valid_utf8(text) == c.at("valid_utf8").get<bool>());
    if (!c.at("valid_utf8").get<bool>()) ++invalid;
  }
  CHECK(invalid >= 10);
}

TEST_CASE("Qwen3 decode(encode(s)) == s for valid UTF-8; invalid input decodes to its replacement", "[tokenizer][qwen3]") {
  const auto& tok = qwen3();
  int exact = 0;
  for (const auto& c : goldens().at("cases")) {
    const auto text = from_hex(c.at("hex").get<std::string>());
    INFO("case " << c.at("name").get<std::string>());
    const auto decoded = tok.decode(tok.encode(text));
    if (c.at("valid_utf8").get<bool>()) {
      // The tokenizer normalizes to NFC first, so the round trip gives the NFC form (s itself when s is NFC).
      const auto normalized = kvc::qwen3::detail::nfc(text);
      CHECK(decoded == normalized);
      if (normalized == text) ++exact;
    } else {
      CHECK(decoded == kvc::qwen3::detail::replace_invalid_utf8(text));
    }
  }
  CHECK(exact >= 200);  // most corpus strings are NFC already and come back byte for byte
  // Text already in NFC round-trips exactly, whatever the script.
  for (const std::string s : {"你好，世界", "👨‍👩‍👧‍👦 🏳️‍🌈", "  \t\n\n  x  ", "한국어 العربية Русский", "<|im_start|>a<|im_end|>"})
    CHECK(tok.decode(tok.encode(s)) == s);
}

TEST_CASE("Qwen3 decode matches Hugging Face, with and without special tokens", "[tokenizer][qwen3]") {
  const auto& tok = qwen3();
  const auto& cases = goldens().at("decode_cases");
  REQUIRE(cases.size() >= 40);
  for (const auto& c : cases) {
    const auto ids = c.at("ids").get<std::vector<std::int32_t>>();
    CHECK(tok.decode(ids, c.at("skip_special").get<bool>()) == from_hex(c.at("hex").get<std::string>()));
  }
}

TEST_CASE("Qwen3 stream decoding holds split characters and equals full decoding", "[tokenizer][qwen3]") {
  const auto& tok = qwen3();
  // Each of these tokens is a part of a multi-byte character: nothing may come out until it completes.
  const std::string text = "😀🫠𓀀 大型语言模型 한국어";
  const auto ids = tok.encode(text);
  kvc::qwen3::stream_decoder dec(tok);
  std::string streamed;
  int held = 0;
  for (const auto id : ids) {
    const auto piece = dec.push(id);
    CHECK(kvc::qwen3::detail::is_valid_utf8(piece));
    if (piece.empty()) ++held;
    streamed += piece;
  }
  streamed += dec.flush();
  CHECK(streamed == text);
  CHECK(held > 0);  // at least one character was split across tokens
}

TEST_CASE("Qwen3 thinking split on a generated reply", "[tokenizer][qwen3]") {
  const auto& tok = qwen3();
  const auto ids = tok.encode("<think>\nLet me think.\n</think>\n\nThe answer is 4.<|im_end|>");
  const auto parts = kvc::qwen3::split_thinking_text(ids, tok);
  CHECK(parts.closed);
  CHECK(parts.thinking == "Let me think.");
  CHECK(parts.answer == "The answer is 4.");
  const auto open = kvc::qwen3::split_thinking_text(tok.encode("<think>\nstill going"), tok);
  CHECK_FALSE(open.closed);
  CHECK(open.thinking == "still going");
  CHECK(open.answer.empty());
}

TEST_CASE("Qwen3's own Jinja chat template, run by kvc's interpreter, matches transformers", "[tokenizer][qwen3][jinja]") {
  qwen3();  // skips when the shared Qwen3 files are absent
  std::ifstream cfg(kvc::test::shared_dir() / "data/qwen3/tokenizer_config.json");
  REQUIRE(cfg.good());
  const auto tmpl = kvc::qwen3::jinja_template::parse(nlohmann::json::parse(cfg).at("chat_template").get<std::string>(),
                                                      "Qwen3 chat template");
  std::ifstream in(kvc::test::data_dir() / "tokenizer" / "chat_goldens.json");
  REQUIRE(in.good());
  const auto chats = nlohmann::ordered_json::parse(in);
  REQUIRE(chats.at("cases").size() >= 20);
  for (const auto& c : chats.at("cases")) {
    INFO("case " << c.at("name").get<std::string>());
    nlohmann::ordered_json context = c.at("options");
    context["messages"] = c.at("messages");
    if (!context.contains("add_generation_prompt")) context["add_generation_prompt"] = false;
    CHECK(tmpl.render(context) == c.at("rendered").get<std::string>());
  }
}
