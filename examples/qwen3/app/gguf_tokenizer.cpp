// GGUF tokenizer metadata -> Hugging Face tokenizer.json / tokenizer_config.json.
#include "app/gguf_tokenizer.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {
namespace {

using kvc::detail::fail;
using kvc::detail::require;
using json = nlohmann::json;

/// llama.cpp's token types (llama_token_type).
constexpr std::int64_t token_type_control = 3;
constexpr std::int64_t token_type_user_defined = 4;

// The split patterns of the pre-tokenizers, as their Hugging Face tokenizer.json files write them.
constexpr std::string_view llama3_split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view qwen2_split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const kvc::io::gguf_value& key(const kvc::io::gguf_header& h, std::string_view name, std::string_view source) {
  const auto* v = h.find(name);
  require(v != nullptr, source, ": GGUF key '", name, "' is missing");
  return *v;
}

const std::vector<kvc::io::gguf_value>& array_of(const kvc::io::gguf_value& v, kvc::io::gguf_value_type element,
                                                 std::string_view name, std::string_view source) {
  require(v.type == kvc::io::gguf_value_type::array && (v.items.empty() || v.element_type == element), source,
          ": GGUF key '", name, "' must be an array of ", kvc::io::gguf_value_type_name(element), ", got ",
          kvc::io::gguf_value_type_name(v.type == kvc::io::gguf_value_type::array ? v.element_type : v.type));
  return v.items;
}

json split_step(std::string_view pattern) {
  return {{"type", "Split"}, {"pattern", {{"Regex", std::string(pattern)}}}, {"behavior", "Isolated"}, {"invert", false}};
}

json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", use_regex}};
}

/// The normalizer and pre-tokenizer of a `tokenizer.ggml.pre` name.
void add_pre_tokenizer(json& out, const std::string& pre, std::string_view source) {
  out["normalizer"] = nullptr;
  if (pre == "default" || pre == "gpt-2") {
    out["pre_tokenizer"] = byte_level(true);
  } else if (pre == "smollm") {  // Digits(individual_digits) then ByteLevel; \p{N} is what Digits splits on
    out["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split_step(R"(\p{N})"), byte_level(true)}}};
  } else if (pre == "llama-bpe" || pre == "llama3") {
    out["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split_step(llama3_split), byte_level(false)}}};
  } else if (pre == "qwen2") {
    out["normalizer"] = {{"type", "NFC"}};
    out["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split_step(qwen2_split), byte_level(false)}}};
  } else {
    fail(source, ": GGUF tokenizer.ggml.pre '", pre,
         "' is not supported (default, gpt-2, smollm, llama-bpe, llama3, qwen2); pass --tokenizer FILE");
  }
}

}  // namespace

std::optional<json> gguf_to_hf_tokenizer(const kvc::io::gguf_header& h, std::string_view source) {
  using vt = kvc::io::gguf_value_type;
  if (h.find("tokenizer.ggml.model") == nullptr) return std::nullopt;
  const std::string& model = key(h, "tokenizer.ggml.model", source).to_string("tokenizer.ggml.model");
  require(model == "gpt2", source, ": GGUF tokenizer.ggml.model '", model,
          "' is not supported (only byte-level BPE, 'gpt2'); pass --tokenizer FILE");
  const auto* pre_value = h.find("tokenizer.ggml.pre");
  const std::string pre = pre_value ? pre_value->to_string("tokenizer.ggml.pre") : "default";

  const auto& tokens = array_of(key(h, "tokenizer.ggml.tokens", source), vt::string, "tokenizer.ggml.tokens", source);
  const auto& merges = array_of(key(h, "tokenizer.ggml.merges", source), vt::string, "tokenizer.ggml.merges", source);
  require(!tokens.empty(), source, ": GGUF tokenizer.ggml.tokens is empty");
  std::vector<std::int64_t> types(tokens.size(), 1);
  if (const auto* t = h.find("tokenizer.ggml.token_type")) {
    require(t->type == vt::array && t->items.size() == tokens.size(), source,
            ": GGUF tokenizer.ggml.token_type must be an array of one integer per token (", tokens.size(), "), got ",
            t->type == vt::array ? t->items.size() : 0, " items");
    for (std::size_t i = 0; i < types.size(); ++i) types[i] = t->items[i].to_int("tokenizer.ggml.token_type item");
  }

  json vocab = json::object(), added = json::array();
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    const std::string& text = tokens[id].to_string("tokenizer.ggml.tokens item");
    if (types[id] == token_type_control || types[id] == token_type_user_defined) {
      added.push_back({{"id", id}, {"content", text}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", false}, {"special", types[id] == token_type_control}});
    } else {
      vocab[text] = id;
    }
  }
  json merge_list = json::array();
  for (const auto& m : merges) merge_list.push_back(m.to_string("tokenizer.ggml.merges item"));

  json out = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", std::move(added)}};
  add_pre_tokenizer(out, pre, source);
  out["post_processor"] = nullptr;
  out["decoder"] = byte_level(true);
  out["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
                  {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false},
                  {"ignore_merges", pre == "llama-bpe" || pre == "llama3"}, {"vocab", std::move(vocab)},
                  {"merges", std::move(merge_list)}};
  return out;
}

std::optional<json> gguf_to_hf_tokenizer_config(const kvc::io::gguf_header& h, std::string_view source) {
  if (h.find("tokenizer.ggml.tokens") == nullptr) return std::nullopt;
  const auto& tokens = array_of(key(h, "tokenizer.ggml.tokens", source), kvc::io::gguf_value_type::string,
                                "tokenizer.ggml.tokens", source);
  json out = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"source", "GGUF metadata"}};
  for (const char* which : {"bos", "eos"}) {
    const std::string id_key = std::string("tokenizer.ggml.") + which + "_token_id";
    if (const auto* v = h.find(id_key)) {
      const auto id = v->to_uint(id_key);
      require(id < tokens.size(), source, ": GGUF ", id_key, " ", id, " is outside the vocabulary (", tokens.size(),
              " tokens)");
      out[std::string(which) + "_token"] = tokens[id].to_string(id_key);
    }
  }
  if (const auto* v = h.find("tokenizer.ggml.add_bos_token")) out["add_bos_token"] = v->to_bool("tokenizer.ggml.add_bos_token");
  if (const auto* t = h.find("tokenizer.chat_template")) out["chat_template"] = t->to_string("tokenizer.chat_template");
  return out;
}

bool write_gguf_tokenizer(const kvc::io::gguf_file& file, const std::filesystem::path& out_dir) {
  const std::string source = file.path().string();
  std::string tokenizer_text, config_text;
  try {
    const auto tok = gguf_to_hf_tokenizer(file.header(), source);
    if (!tok) return false;
    tokenizer_text = tok->dump();
    config_text = gguf_to_hf_tokenizer_config(file.header(), source)->dump(2);
  } catch (const kvc::error& e) {
    std::fprintf(stderr, "no tokenizer from the GGUF's metadata: %s\n", e.what());
    return false;
  } catch (const json::exception& e) {  // token text that is not UTF-8
    std::fprintf(stderr, "no tokenizer from the GGUF's metadata: %s: %s\n", source.c_str(), e.what());
    return false;
  }
  std::filesystem::create_directories(out_dir);
  for (const auto& [name, content] : {std::pair{"tokenizer_config.json", config_text}, {"tokenizer.json", tokenizer_text}}) {
    std::ofstream os(out_dir / name, std::ios::binary);
    os << content;
    require(bool(os), "cannot write ", (out_dir / name).string());
  }
  return true;
}

}  // namespace kvc::qwen3
