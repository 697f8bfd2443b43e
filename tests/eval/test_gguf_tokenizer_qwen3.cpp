// The real Qwen3 tokenizer (../shared/data/qwen3/tokenizer.json) written as GGUF metadata the way
// llama.cpp's converter writes it, converted back by gguf_to_hf_tokenizer: the same ids as
// Hugging Face `tokenizers` on every golden string (skips when the shared files are absent).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/gguf_tokenizer.hpp"
#include "app/text/tokenizer.hpp"
#include "support/gguf_builder.hpp"
#include "support/skip.hpp"
#include "tokenizer/encode_goldens.hpp"

namespace {

/// tokenizer.json -> the GGUF tokenizer block (tokens by id; added special tokens CONTROL (3),
/// other added tokens USER_DEFINED (4), the rest NORMAL (1); merges as "a b").
kvc::io::gguf_header qwen3_as_gguf(const nlohmann::json& hf) {
  std::map<std::int64_t, std::pair<std::string, std::int32_t>> by_id;
  for (const auto& [token, id] : hf.at("model").at("vocab").items()) by_id[id.get<std::int64_t>()] = {token, 1};
  for (const auto& a : hf.at("added_tokens"))
    by_id[a.at("id").get<std::int64_t>()] = {a.at("content").get<std::string>(), a.at("special").get<bool>() ? 3 : 4};
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  for (const auto& [id, entry] : by_id) {
    REQUIRE(id == static_cast<std::int64_t>(tokens.size()));  // Qwen3's ids are dense
    tokens.push_back(entry.first);
    types.push_back(entry.second);
  }
  std::vector<std::string> merges;
  for (const auto& m : hf.at("model").at("merges"))
    merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
  kvc::test::gguf_builder w;
  w.header(3, 0, 5);
  w.kv_str("tokenizer.ggml.model", "gpt2");
  w.kv_str("tokenizer.ggml.pre", "qwen2");
  w.kv_str_array("tokenizer.ggml.tokens", tokens);
  w.kv_i32_array("tokenizer.ggml.token_type", types);
  w.kv_str_array("tokenizer.ggml.merges", merges);
  return w.parse();
}

}  // namespace

TEST_CASE("a Qwen3 GGUF's tokenizer encodes as Hugging Face does on every golden string", "[gguf][tokenizer][qwen3]") {
  const auto path = kvc::test::shared_dir() / "data/qwen3/tokenizer.json";
  if (!std::filesystem::exists(path)) kvc::test::skip("no Qwen3 tokenizer at " + path.string());
  std::ifstream in(path);
  const auto hf = nlohmann::json::parse(in);
  const auto converted = kvc::qwen3::gguf_to_hf_tokenizer(qwen3_as_gguf(hf), "qwen3.gguf");
  REQUIRE(converted.has_value());
  const auto tok = kvc::qwen3::tokenizer::from_json(converted->dump());
  const auto reference = kvc::qwen3::tokenizer::from_file(path);
  CHECK(tok.vocab_size() == reference.vocab_size());
  CHECK(tok.is_special(*tok.token_id("<|im_end|>")));
  CHECK(!tok.is_special(*tok.token_id("<think>")));

  const auto goldens = kvc::test::load_json(kvc::test::data_dir() / "tokenizer" / "encode_goldens.json");
  CHECK(kvc::test::check_encode_goldens(tok, goldens) >= 200);
}
