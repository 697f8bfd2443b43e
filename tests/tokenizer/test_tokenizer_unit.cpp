// Tokenizer mechanics on small synthetic tokenizer.json files: BPE ranks, added tokens, NFC, decoding,
// streaming, thinking split, and clear errors for bad files (no shared data needed).
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "app/text/byte_level.hpp"
#include "app/text/thinking.hpp"
#include "app/text/tokenizer.hpp"
#include "kvc/core/error.hpp"
#include "support/skip.hpp"

using kvc::qwen3::tokenizer;
using kvc::qwen3::detail::bytes_to_byte_level;

namespace {

constexpr std::int32_t end_id = 300;    // "<|end|>", special
constexpr std::int32_t think_id = 301;  // "<think>", added, not special
constexpr std::int32_t unthink_id = 302;

/// A byte-level BPE tokenizer.json: ids 0-255 are the single bytes, then `merges` (pairs of raw byte
/// strings) get ids 256, 257, ... in order, plus three added tokens.
nlohmann::json make_tokenizer_json(const std::vector<std::pair<std::string, std::string>>& merges,
                                   bool string_merges = false, bool nfc = true) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[bytes_to_byte_level(std::string(1, static_cast<char>(b)))] = b;
  nlohmann::json merge_list = nlohmann::json::array();
  int next = 256;
  for (const auto& [a, b] : merges) {
    const auto ab = bytes_to_byte_level(a + b);
    if (!vocab.contains(ab)) vocab[ab] = next++;
    const auto la = bytes_to_byte_level(a), lb = bytes_to_byte_level(b);
    if (string_merges) merge_list.push_back(la + " " + lb);
    else merge_list.push_back({la, lb});
  }
  nlohmann::json added = nlohmann::json::array();
  const auto add = [&](int id, const char* text, bool special) {
    added.push_back({{"id", id}, {"content", text}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", special}});
  };
  add(end_id, "<|end|>", true);
  add(think_id, "<think>", false);
  add(unthink_id, "</think>", false);
  const std::string pattern =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  nlohmann::json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", nfc ? nlohmann::json{{"type", "NFC"}} : nlohmann::json(nullptr)},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""}, {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", vocab},
        {"merges", merge_list}}}};
  return j;
}

tokenizer make_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges, bool string_merges = false,
                         bool nfc = true) {
  return tokenizer::from_json(make_tokenizer_json(merges, string_merges, nfc).dump());
}

std::vector<std::int32_t> bytes_of(const std::string& s) {
  std::vector<std::int32_t> ids;
  for (unsigned char c : s) ids.push_back(c);
  return ids;
}

std::string error_message_of(const std::string& json_text) {
  try {
    (void)tokenizer::from_json(json_text);
  } catch (const kvc::error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("BPE applies merges by rank, lowest first", "[tokenizer]") {
  const auto tok_bc_first = make_tokenizer({{"b", "c"}, {"a", "b"}});
  const auto tok_ab_first = make_tokenizer({{"a", "b"}, {"b", "c"}});
  const auto bc = tok_bc_first.token_id(bytes_to_byte_level("bc"));
  const auto ab = tok_ab_first.token_id(bytes_to_byte_level("ab"));
  REQUIRE(bc.has_value());
  REQUIRE(ab.has_value());
  CHECK(tok_bc_first.encode("abc") == std::vector<std::int32_t>{'a', *bc});
  CHECK(tok_ab_first.encode("abc") == std::vector<std::int32_t>{*ab, 'c'});
}

TEST_CASE("BPE merges chains and repeated pairs left to right", "[tokenizer]") {
  const auto tok = make_tokenizer({{"l", "l"}, {"h", "e"}, {"he", "ll"}, {"hell", "o"}, {"a", "a"}});
  const auto hello = tok.token_id(bytes_to_byte_level("hello"));
  const auto aa = tok.token_id(bytes_to_byte_level("aa"));
  REQUIRE(hello.has_value());
  REQUIRE(aa.has_value());
  CHECK(tok.encode("hello") == std::vector<std::int32_t>{*hello});
  CHECK(tok.encode("aaa") == std::vector<std::int32_t>{*aa, 'a'});  // (a a) a, not a (a a)
  CHECK(tok.encode("aaaa") == std::vector<std::int32_t>{*aa, *aa});
  // " hello" splits into " hello" as one pre-token ([^\r\n\p{L}\p{N}]?\p{L}+) which no merge covers fully.
  const auto ids = tok.encode(" hello");
  CHECK(ids.front() == ' ');
  CHECK(tok.decode(ids) == " hello");
}

TEST_CASE("string merges \"a b\" and array merges [a, b] are equivalent", "[tokenizer]") {
  const std::vector<std::pair<std::string, std::string>> merges = {{"t", "h"}, {"th", "e"}, {" ", "the"}, {"\n", "\n"}};
  const auto arrays = make_tokenizer(merges, false);
  const auto strings = make_tokenizer(merges, true);
  for (const std::string text : {"the theme\n\n the", "nothing", " the\n\n\n"}) {
    CHECK(arrays.encode(text) == strings.encode(text));
  }
  CHECK(arrays.encode(" the").size() == 1);
}

TEST_CASE("added tokens are matched on the raw text before BPE", "[tokenizer]") {
  const auto tok = make_tokenizer({});
  CHECK(tok.encode("x<|end|>y") == std::vector<std::int32_t>{'x', end_id, 'y'});
  CHECK(tok.encode("<think></think><|end|>") == std::vector<std::int32_t>{think_id, unthink_id, end_id});
  CHECK(tok.encode("<|end") == bytes_of("<|end"));
  CHECK(tok.token_id("<|end|>") == end_id);
  CHECK(tok.is_special(end_id));
  CHECK_FALSE(tok.is_special(think_id));
  CHECK_FALSE(tok.is_special('a'));
  CHECK(tok.vocab_size() == static_cast<std::size_t>(unthink_id + 1));
}

TEST_CASE("decode inverts encode and can skip special tokens", "[tokenizer]") {
  const auto tok = make_tokenizer({{"e", "s"}, {"t", "es"}, {"\xe4", "\xbd"}});
  for (const std::string text : {"test tests", "你好 мир 😀 e\xcc\x81", "\t\n  \r\n", "<|end|>a<think>b</think>"}) {
    CHECK(tok.decode(tok.encode(text)) == tok.decode(tok.encode(tok.decode(tok.encode(text)))));
  }
  CHECK(tok.decode(tok.encode("test tests")) == "test tests");
  CHECK(tok.decode(tok.encode("<|end|>a<think>b</think>")) == "<|end|>a<think>b</think>");
  CHECK(tok.decode(tok.encode("<|end|>a<think>b</think>"), true) == "a<think>b</think>");
  // Bytes that do not form UTF-8 decode as U+FFFD.
  CHECK(tok.decode(std::vector<std::int32_t>{0xE4, 'x'}) == "\xEF\xBF\xBDx");
}

TEST_CASE("NFC is applied when the normalizer says so", "[tokenizer]") {
  const auto with_nfc = make_tokenizer({}, false, true);
  const auto without = make_tokenizer({}, false, false);
  const std::string decomposed = "e\xcc\x81";  // e + COMBINING ACUTE
  const std::string composed = "\xc3\xa9";     // é
  CHECK(with_nfc.encode(decomposed) == with_nfc.encode(composed));
  CHECK(without.encode(decomposed) == bytes_of(decomposed));
}

TEST_CASE("ill-formed UTF-8 is encoded as its U+FFFD replacement", "[tokenizer]") {
  const auto tok = make_tokenizer({});
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(tok.encode("a\xff" "b") == tok.encode("a" + fffd + "b"));
  CHECK(tok.encode("\xe2\x82(") == tok.encode(fffd + "("));  // truncated 3-byte sequence: one U+FFFD
  CHECK(tok.encode("\xed\xa0\x80") == tok.encode(fffd + fffd + fffd));  // surrogate: one per byte
  CHECK(tok.encode("\xf0\x9f\x98") == tok.encode(fffd));  // cut at the end
}

TEST_CASE("stream_decoder emits a character only once its bytes are complete", "[tokenizer]") {
  const auto tok = make_tokenizer({});
  kvc::qwen3::stream_decoder dec(tok);
  CHECK(dec.push('h') == "h");
  CHECK(dec.push(0xC3).empty());
  CHECK(dec.push(0xA9) == "\xC3\xA9");
  const std::string emoji = "\xF0\x9F\x98\x80";
  std::string got;
  for (std::size_t i = 0; i < emoji.size(); ++i) {
    const auto piece = dec.push(static_cast<unsigned char>(emoji[i]));
    if (i + 1 < emoji.size()) CHECK(piece.empty());
    got += piece;
  }
  CHECK(got == emoji);
  CHECK(dec.push(0xFF) == "\xEF\xBF\xBD");  // cannot start a character: replaced at once
  CHECK(dec.push(0xE4).empty());
  CHECK(dec.push('x') == "\xEF\xBF\xBDx");  // the held byte was not a prefix after all
  CHECK(dec.push(0xE4).empty());
  CHECK(dec.flush() == "\xEF\xBF\xBD");
  CHECK(dec.flush().empty());
  CHECK(dec.push(end_id) == "<|end|>");
  kvc::qwen3::stream_decoder skipping(tok, true);
  CHECK(skipping.push(end_id).empty());
  CHECK_THROWS_AS(dec.push(5000), kvc::error);
}

TEST_CASE("streamed text equals decoded text", "[tokenizer]") {
  const auto tok = make_tokenizer({{"\xe4", "\xbd"}, {"\xe4\xbd", "\xa0"}});
  const std::string text = "你好, 世界! 😀 e\xcc\x81 done";
  const auto ids = tok.encode(text);
  kvc::qwen3::stream_decoder dec(tok);
  std::string streamed;
  for (const auto id : ids) streamed += dec.push(id);
  streamed += dec.flush();
  CHECK(streamed == tok.decode(ids));
}

TEST_CASE("token lookups and unknown ids", "[tokenizer]") {
  const auto tok = make_tokenizer({});
  CHECK_FALSE(tok.token_id("no-such-token").has_value());
  CHECK_THROWS_WITH(tok.require_token_id("no-such-token"), Catch::Contains("no-such-token"));
  CHECK_THROWS_WITH(tok.decode(std::vector<std::int32_t>{-1}), Catch::Contains("unknown token id -1"));
  CHECK_THROWS_WITH(tok.decode(std::vector<std::int32_t>{290}), Catch::Contains("unknown token id 290"));
}

TEST_CASE("bad tokenizer files raise kvc::error with a clear message", "[tokenizer]") {
  CHECK_THROWS_WITH(tokenizer::from_file("definitely/not/here/tokenizer.json"), Catch::Contains("cannot open"));
  CHECK_THROWS_WITH(tokenizer::from_json("{\"model\": "), Catch::Contains("malformed JSON"));
  CHECK_THROWS_WITH(tokenizer::from_json(""), Catch::Contains("malformed JSON"));
  CHECK_THROWS_WITH(tokenizer::from_json("[]"), Catch::Contains("top level must be an object"));
  CHECK_THROWS_WITH(tokenizer::from_json("{}"), Catch::Contains("no \"model\""));

  auto j = make_tokenizer_json({{"a", "b"}});
  j["model"]["type"] = "WordPiece";
  CHECK_THAT(error_message_of(j.dump()), Catch::Contains("model.type must be \"BPE\""));
  j = make_tokenizer_json({{"a", "b"}});
  j["model"]["merges"].push_back({"zz-unknown", "a"});
  CHECK_THAT(error_message_of(j.dump()), Catch::Contains("missing from the vocab"));
  j = make_tokenizer_json({{"a", "b"}});
  j["model"]["merges"].push_back("no-space");
  CHECK_THAT(error_message_of(j.dump()), Catch::Contains("is not \"a b\""));
  j = make_tokenizer_json({});
  j["model"]["vocab"]["x"] = -3;
  CHECK_THAT(error_message_of(j.dump()), Catch::Contains("out of range"));
  j = make_tokenizer_json({});
  j["model"]["vocab"]["x"] = "seven";
  CHECK_THAT(error_message_of(j.dump()), Catch::Contains("must be an integer"));
  j = make_tokenizer_json({});
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  CHECK_THAT(error_message_of(j.dump()), Catch::Contains("cannot compile regex"));
  j = make_tokenizer_json({});
  j["normalizer"] = {{"type", "Lowercase"}};
  CHECK_THAT(error_message_of(j.dump()), Catch::Contains("not supported"));
  j = make_tokenizer_json({});
  j["added_tokens"][0]["content"] = 7;
  CHECK_THAT(error_message_of(j.dump()), Catch::Contains("non-empty string content"));

  // A file that exists but is not JSON.
  const auto path = std::filesystem::temp_directory_path() / "kvc_test_bad_tokenizer.json";
  std::ofstream(path) << "this is not json";
  CHECK_THROWS_WITH(tokenizer::from_file(path), Catch::Contains("malformed JSON") && Catch::Contains(path.string()));
  std::filesystem::remove(path);
}

TEST_CASE("damaged tokenizer.json never crashes: it loads or raises kvc::error", "[tokenizer][fuzz]") {
  constexpr int mutations = 300;  // random byte edits of a valid file
  const std::string good = make_tokenizer_json({{"a", "b"}, {"ab", "c"}, {" ", "a"}}).dump();
  std::mt19937_64 rng(12345);
  int loaded = 0, rejected = 0;
  const auto attempt = [&](const std::string& text) {
    try {
      const auto tok = tokenizer::from_json(text);
      (void)tok.decode(tok.encode("abc abc <|end|> \xff"));
      ++loaded;
    } catch (const kvc::error&) {
      ++rejected;
    }
  };
  for (std::size_t cut = 0; cut < good.size(); cut += 97) attempt(good.substr(0, cut));
  for (int i = 0; i < mutations; ++i) {
    std::string text = good;
    const auto edits = 1 + rng() % 4;
    for (std::uint64_t e = 0; e < edits; ++e) text[rng() % text.size()] = static_cast<char>(rng() % 256);
    attempt(text);
  }
  CHECK(rejected > 0);
  CHECK(loaded + rejected == mutations + static_cast<int>((good.size() + 96) / 97));
}

TEST_CASE("thinking split at the last </think>", "[tokenizer][thinking]") {
  using kvc::qwen3::split_thinking;
  const std::vector<std::int32_t> closed = {think_id, 1, 2, unthink_id, 3, 4};
  auto s = split_thinking(closed, unthink_id, think_id);
  CHECK(s.closed);
  CHECK(s.thinking == std::vector<std::int32_t>{1, 2});
  CHECK(s.answer == std::vector<std::int32_t>{3, 4});

  const std::vector<std::int32_t> twice = {1, unthink_id, 2, unthink_id, 3};
  s = split_thinking(twice, unthink_id);
  CHECK(s.thinking == std::vector<std::int32_t>{1, unthink_id, 2});
  CHECK(s.answer == std::vector<std::int32_t>{3});

  const std::vector<std::int32_t> open = {think_id, 5, 6, 7};
  s = split_thinking(open, unthink_id, think_id);
  CHECK_FALSE(s.closed);
  CHECK(s.thinking == std::vector<std::int32_t>{5, 6, 7});
  CHECK(s.answer.empty());

  const auto tok = make_tokenizer({});
  const auto ids = tok.encode("<think>\nhmm\n</think>\n\nAnswer.<|end|>");
  const auto text = kvc::qwen3::split_thinking_text(ids, tok);
  CHECK(text.closed);
  CHECK(text.thinking == "hmm");
  CHECK(text.answer == "Answer.");
  const auto by_name = split_thinking(ids, tok);
  CHECK(by_name.closed);

  auto no_think = make_tokenizer_json({});
  no_think["added_tokens"].erase(2);
  const auto tok2 = tokenizer::from_json(no_think.dump());
  CHECK_THROWS_WITH(split_thinking(ids, tok2), Catch::Contains("</think>"));
}

TEST_CASE("the pre-tokenizer regex decides the pieces BPE sees", "[tokenizer]") {
  const std::vector<std::pair<std::string, std::string>> merges = {{"1", "2"}, {"12", "3"}};
  // Qwen's Split regex takes digits one by one (\p{N}), so "123" is never merged.
  const auto qwen_style = make_tokenizer(merges);
  CHECK(qwen_style.encode("123") == std::vector<std::int32_t>{'1', '2', '3'});
  // A lone ByteLevel pre-tokenizer with use_regex = true uses the GPT-2 pattern ( ?\p{N}+).
  auto j = make_tokenizer_json(merges);
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  const auto gpt2_style = tokenizer::from_json(j.dump());
  const auto id123 = gpt2_style.token_id(bytes_to_byte_level("123"));
  REQUIRE(id123.has_value());
  CHECK(gpt2_style.encode("123") == std::vector<std::int32_t>{*id123});
  CHECK(gpt2_style.decode(gpt2_style.encode("a 123 b")) == "a 123 b");
  j["pre_tokenizer"]["add_prefix_space"] = true;
  CHECK_THAT(error_message_of(j.dump()), Catch::Contains("add_prefix_space"));
}
