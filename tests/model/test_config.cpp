// config.json parsing: every Qwen3 dense size, v4/v5 rope layouts, YaRN numbers, Llama defaults, errors.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "model/config.hpp"
#include "model/rope.hpp"

namespace {

using kvc::qwen3::model_config;
using nlohmann::json;

// Qwen3-8B's config.json as released (../shared/research/qwen3.md §2).
json qwen3_8b() {
  return json::parse(R"({
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 12288,
    "max_position_embeddings": 40960, "max_window_layers": 36, "model_type": "qwen3",
    "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
    "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.51.0",
    "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})");
}

}  // namespace

TEST_CASE("every released Qwen3 dense size parses with its head layout", "[model][config]") {
  struct size_row {
    int hidden, layers, heads, kv, inter;
    bool tied;
    long kv_bytes_per_token;  // bf16 cache, L·nkv·d·2·2 (qwen3.md §1.3)
  };
  const size_row rows[] = {{1024, 28, 16, 8, 3072, true, 114688},   {2048, 28, 16, 8, 6144, true, 114688},
                           {2560, 36, 32, 8, 9728, true, 147456},   {4096, 36, 32, 8, 12288, false, 147456},
                           {5120, 40, 40, 8, 17408, false, 163840}, {5120, 64, 64, 8, 25600, false, 262144}};
  for (const auto& r : rows) {
    auto j = qwen3_8b();
    j["hidden_size"] = r.hidden;
    j["num_hidden_layers"] = r.layers;
    j["num_attention_heads"] = r.heads;
    j["num_key_value_heads"] = r.kv;
    j["intermediate_size"] = r.inter;
    j["tie_word_embeddings"] = r.tied;
    const auto c = model_config::from_json(j);
    INFO("hidden " << r.hidden);
    CHECK(c.arch == kvc::qwen3::architecture::qwen3);
    CHECK(c.head_dim == 128);
    CHECK(c.q_width() == r.heads * 128);
    CHECK(c.tie_word_embeddings == r.tied);
    CHECK(c.rope.type == "default");
    CHECK(c.rope.theta == 1e6);
    CHECK(c.stored_dtype == kvc::dtype::bf16);
    CHECK(c.eos_token_ids == std::vector<int>{151645});
    CHECK(long(c.num_layers) * c.kv_width() * 2 * 2 == r.kv_bytes_per_token);
    c.attention_shape().validate();
  }
}

TEST_CASE("YaRN: v4 rope_scaling (rope_type or type) and v5 rope_parameters agree with qwen3.md §1.7",
          "[model][config][rope]") {
  auto v4 = qwen3_8b();
  v4["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
  v4["max_position_embeddings"] = 131072;
  auto v4_type = v4;
  v4_type["rope_scaling"].erase("rope_type");
  v4_type["rope_scaling"]["type"] = "yarn";
  auto v5 = qwen3_8b();
  v5.erase("rope_theta");
  v5.erase("rope_scaling");
  v5.erase("torch_dtype");
  v5["dtype"] = "bfloat16";
  v5["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 1e6}, {"factor", 4.0},
                           {"original_max_position_embeddings", 32768}};
  v5["max_position_embeddings"] = 131072;
  const auto plain = kvc::qwen3::rope_table(model_config::from_json(qwen3_8b()).rope, 128);
  for (const auto& j : {v4, v4_type, v5}) {
    const auto c = model_config::from_json(j);
    CHECK(c.rope.type == "yarn");
    CHECK(c.rope.factor == 4.0);
    CHECK(c.stored_dtype == kvc::dtype::bf16);
    const kvc::qwen3::rope_table t(c.rope, c.head_dim);
    CHECK(t.attention_factor() == Approx(1.1386294361).epsilon(1e-9));
    // low = 23, high = 40: below 23 unchanged, from 40 on divided by 4, blended in between.
    for (int i = 0; i <= 23; ++i) CHECK(t.inv_freq()[i] == plain.inv_freq()[i]);
    for (int i = 40; i < 64; ++i) CHECK(t.inv_freq()[i] == Approx(plain.inv_freq()[i] / 4).epsilon(1e-6));
    for (int i = 24; i < 40; ++i) {
      CHECK(t.inv_freq()[i] < plain.inv_freq()[i]);
      CHECK(t.inv_freq()[i] > plain.inv_freq()[i] / 4);
    }
    CHECK(t.inv_freq()[23] == Approx(6.9783e-3).epsilon(1e-4));
  }
}

TEST_CASE("Llama family: no q/k norm, head_dim defaults to hidden/heads, llama3 rope", "[model][config]") {
  const auto j = json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "hidden_size": 2048, "intermediate_size": 8192,
    "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "vocab_size": 128256,
    "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "eos_token_id": [128001, 128008, 128009]})");
  const auto c = model_config::from_json(j);
  CHECK(c.arch == kvc::qwen3::architecture::llama);
  CHECK_FALSE(c.has_qk_norm());
  CHECK(c.head_dim == 64);
  CHECK(c.eos_token_ids.size() == 3);
  CHECK(c.rms_norm_eps == 1e-5);
  const kvc::qwen3::rope_table t(c.rope, c.head_dim);
  auto plain_rope = c.rope;
  plain_rope.type = "default";
  const kvc::qwen3::rope_table p(plain_rope, c.head_dim);
  // Highest frequencies (short wavelengths) untouched, lowest divided by the factor.
  CHECK(t.inv_freq()[0] == p.inv_freq()[0]);
  CHECK(t.inv_freq()[31] == Approx(p.inv_freq()[31] / 32).epsilon(1e-6));
  CHECK(t.attention_factor() == 1.0f);
  // Qwen3 without head_dim follows transformers' Qwen3Config default (128), not hidden/heads.
  auto q = qwen3_8b();
  q.erase("head_dim");
  q["hidden_size"] = 1024;
  CHECK(model_config::from_json(q).head_dim == 128);
}

TEST_CASE("config errors name the field and the file", "[model][config][errors]") {
  for (const char* field : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads"}) {
    auto j = qwen3_8b();
    j.erase(field);
    INFO(field);
    CHECK_THROWS_WITH(model_config::from_json(j, "dir/config.json"),
                      Catch::Contains(field) && Catch::Contains("dir/config.json") && Catch::Contains("missing"));
  }
  auto j = qwen3_8b();
  j["model_type"] = "qwen3_moe";
  CHECK_THROWS_WITH(model_config::from_json(j), Catch::Contains("qwen3_moe"));
  j = qwen3_8b();
  j["num_key_value_heads"] = 7;
  CHECK_THROWS_WITH(model_config::from_json(j), Catch::Contains("num_key_value_heads"));
  j = qwen3_8b();
  j["hidden_size"] = "big";
  CHECK_THROWS_WITH(model_config::from_json(j), Catch::Contains("hidden_size"));
  j = qwen3_8b();
  j["attention_bias"] = true;
  CHECK_THROWS_WITH(model_config::from_json(j), Catch::Contains("attention_bias"));
  j = qwen3_8b();
  j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  CHECK_THROWS_WITH(model_config::from_json(j), Catch::Contains("dynamic"));
  j = qwen3_8b();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  j.erase("max_position_embeddings");
  CHECK_THROWS_WITH(model_config::from_json(j), Catch::Contains("original_max_position_embeddings"));
  CHECK_THROWS_WITH(model_config::load("no-such-dir"), Catch::Contains("no-such-dir"));
}
