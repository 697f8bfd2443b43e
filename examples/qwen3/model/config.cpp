// config.json parsing for Qwen3 dense and Llama-family checkpoints (v4 and v5 layouts).
#include "model/config.hpp"

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {
namespace {

using nlohmann::json;
using kvc::detail::fail;
using kvc::detail::require;

struct reader {
  const json& j;
  std::string_view source;

  bool has(const char* key) const { return j.contains(key) && !j.at(key).is_null(); }

  int required_int(const char* key) const {
    require(has(key), source, ": required field '", key, "' is missing");
    require(j.at(key).is_number_integer(), source, ": field '", key, "' must be an integer");
    const auto v = j.at(key).get<long long>();
    require(v > 0 && v < (1ll << 31), source, ": field '", key, "' must be positive, got ", v);
    return int(v);
  }
  int optional_int(const char* key, int fallback) const { return has(key) ? required_int(key) : fallback; }
  double number(const json& obj, const char* key, double fallback) const {
    if (!obj.contains(key) || obj.at(key).is_null()) return fallback;
    require(obj.at(key).is_number(), source, ": field '", key, "' must be a number");
    return obj.at(key).get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    require(j.at(key).is_boolean(), source, ": field '", key, "' must be true or false");
    return j.at(key).get<bool>();
  }
};

architecture detect_architecture(const reader& r) {
  std::string type = r.has("model_type") && r.j.at("model_type").is_string()
                         ? r.j.at("model_type").get<std::string>()
                         : std::string();
  if (type.empty() && r.has("architectures") && r.j.at("architectures").is_array() &&
      !r.j.at("architectures").empty()) {
    const auto a = r.j.at("architectures")[0].get<std::string>();
    if (a == "Qwen3ForCausalLM") type = "qwen3";
    if (a == "LlamaForCausalLM") type = "llama";
  }
  require(!type.empty(), r.source, ": required field 'model_type' (or 'architectures') is missing");
  if (type == "qwen3") return architecture::qwen3;
  if (type == "llama") return architecture::llama;
  fail(r.source, ": unsupported model_type '", type, "' (supported: qwen3, llama)");
}

rope_config parse_rope(const reader& r, architecture) {
  rope_config rope;
  const json* scaling = nullptr;
  if (r.has("rope_parameters")) {  // transformers v5
    scaling = &r.j.at("rope_parameters");
    require(scaling->is_object(), r.source, ": 'rope_parameters' must be an object");
    rope.theta = r.number(*scaling, "rope_theta", r.number(r.j, "rope_theta", rope.theta));
  } else {  // v4: top-level rope_theta, optional rope_scaling
    rope.theta = r.number(r.j, "rope_theta", rope.theta);
    if (r.has("rope_scaling")) {
      scaling = &r.j.at("rope_scaling");
      require(scaling->is_object(), r.source, ": 'rope_scaling' must be an object or null");
    }
  }
  require(rope.theta > 0, r.source, ": rope_theta must be positive, got ", rope.theta);
  if (r.has("partial_rotary_factor"))
    require(r.number(r.j, "partial_rotary_factor", 1.0) == 1.0, r.source,
            ": partial_rotary_factor != 1 is not supported");
  if (!scaling) return rope;

  const json& s = *scaling;
  if (s.contains("rope_type") && s.at("rope_type").is_string()) rope.type = s.at("rope_type");
  else if (s.contains("type") && s.at("type").is_string()) rope.type = s.at("type");
  if (rope.type == "default") return rope;
  require(rope.type == "linear" || rope.type == "yarn" || rope.type == "llama3", r.source,
          ": unsupported rope type '", rope.type, "' (supported: default, linear, yarn, llama3)");
  rope.original_max_position_embeddings =
      int(r.number(s, "original_max_position_embeddings", 0.0));
  if (s.contains("factor") && !s.at("factor").is_null()) {
    rope.factor = r.number(s, "factor", 1.0);
  } else {
    // HF derives the factor from the context ratio only when the config gives none.
    require(rope.type == "yarn" && rope.original_max_position_embeddings > 0 &&
                r.has("max_position_embeddings"),
            r.source, ": rope scaling '", rope.type, "' needs field 'factor'");
    rope.factor = double(r.required_int("max_position_embeddings")) /
                  rope.original_max_position_embeddings;
  }
  require(rope.factor > 0, r.source, ": rope scaling factor must be positive, got ", rope.factor);
  if (rope.type == "yarn" || rope.type == "llama3") {
    if (rope.original_max_position_embeddings == 0 && rope.type == "yarn")
      rope.original_max_position_embeddings = r.optional_int("max_position_embeddings", 0);
    require(rope.original_max_position_embeddings > 0, r.source, ": rope scaling '", rope.type,
            "' needs field 'original_max_position_embeddings'");
  }
  rope.beta_fast = r.number(s, "beta_fast", rope.beta_fast);
  rope.beta_slow = r.number(s, "beta_slow", rope.beta_slow);
  if (s.contains("truncate") && s.at("truncate").is_boolean()) rope.truncate = s.at("truncate");
  if (s.contains("attention_factor") && !s.at("attention_factor").is_null())
    rope.attention_factor = r.number(s, "attention_factor", 1.0);
  if (s.contains("mscale") && !s.at("mscale").is_null()) rope.mscale = r.number(s, "mscale", 1.0);
  if (s.contains("mscale_all_dim") && !s.at("mscale_all_dim").is_null())
    rope.mscale_all_dim = r.number(s, "mscale_all_dim", 1.0);
  rope.low_freq_factor = r.number(s, "low_freq_factor", rope.low_freq_factor);
  rope.high_freq_factor = r.number(s, "high_freq_factor", rope.high_freq_factor);
  return rope;
}

}  // namespace

model_config model_config::from_json(const json& j, std::string_view source) {
  require(j.is_object(), source, ": expected a JSON object");
  const reader r{j, source};
  model_config c;
  c.arch = detect_architecture(r);
  c.vocab_size = r.required_int("vocab_size");
  c.hidden_size = r.required_int("hidden_size");
  c.intermediate_size = r.required_int("intermediate_size");
  c.num_layers = r.required_int("num_hidden_layers");
  c.num_heads = r.required_int("num_attention_heads");
  c.num_kv_heads = r.optional_int("num_key_value_heads", c.num_heads);
  // HF Qwen3Config defaults head_dim to 128 whatever the hidden size; Llama to hidden / heads.
  if (r.has("head_dim")) {
    c.head_dim = r.required_int("head_dim");
  } else if (c.arch == architecture::qwen3) {
    c.head_dim = 128;
  } else {
    require(c.hidden_size % c.num_heads == 0, source, ": hidden_size (", c.hidden_size,
            ") is not a multiple of num_attention_heads (", c.num_heads, ") and 'head_dim' is missing");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  c.max_position_embeddings = r.optional_int("max_position_embeddings", 0);
  c.rms_norm_eps = r.number(j, "rms_norm_eps", 1e-6);
  require(c.rms_norm_eps > 0, source, ": rms_norm_eps must be positive");
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  c.rope = parse_rope(r, c.arch);

  require(c.num_heads % c.num_kv_heads == 0, source, ": num_attention_heads (", c.num_heads,
          ") must be a multiple of num_key_value_heads (", c.num_kv_heads, ")");
  require(c.head_dim % 2 == 0, source, ": head_dim must be even for RoPE, got ", c.head_dim);
  if (r.has("hidden_act"))
    require(j.at("hidden_act") == "silu", source, ": hidden_act '", j.at("hidden_act").dump(),
            "' is not supported (only silu)");
  require(!r.boolean("attention_bias", false), source, ": attention_bias=true is not supported");
  require(!r.boolean("mlp_bias", false), source, ": mlp_bias=true is not supported");
  require(!r.boolean("use_sliding_window", false), source,
          ": use_sliding_window=true is not supported (every released Qwen3 dense model uses full attention)");
  if (r.has("layer_types") && j.at("layer_types").is_array())
    for (const auto& t : j.at("layer_types"))
      require(t == "full_attention", source, ": layer type ", t.dump(), " is not supported");

  for (const char* key : {"torch_dtype", "dtype"})
    if (r.has(key) && j.at(key).is_string()) {
      c.stored_dtype = kvc::parse_dtype(j.at(key).get<std::string>());
      break;
    }
  if (r.has("eos_token_id")) {
    const auto& e = j.at("eos_token_id");
    if (e.is_array())
      for (const auto& x : e) c.eos_token_ids.push_back(x.get<int>());
    else
      c.eos_token_ids.push_back(e.get<int>());
  }
  if (r.has("bos_token_id")) c.bos_token_id = j.at("bos_token_id").get<int>();
  return c;
}

model_config model_config::load(const std::filesystem::path& path) {
  const auto file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  std::ifstream in(file);
  require(bool(in), "cannot open ", file.string());
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    fail(file.string(), ": invalid JSON: ", e.what());
  }
  try {
    return from_json(j, file.string());
  } catch (const json::exception& e) {
    fail(file.string(), ": ", e.what());
  }
}

}  // namespace kvc::qwen3
