// Malformed checkpoints give a clear kvc::error naming the file and the field or tensor at fault.
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "golden.hpp"
#include "kvc/io/safetensors_writer.hpp"
#include "model/model.hpp"

namespace fs = std::filesystem;

namespace {

/// A private copy of a committed checkpoint directory, removed at the end of the test.
struct temp_copy {
  fs::path dir;
  explicit temp_copy(const fs::path& from) {
    static std::atomic<int> counter{0};
    dir = fs::temp_directory_path() /
          ("kvc-model-test-" + std::to_string(std::random_device{}()) + "-" + std::to_string(counter++));
    fs::create_directories(dir);
    fs::copy(from, dir, fs::copy_options::recursive);
  }
  ~temp_copy() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  nlohmann::json config() const { return nlohmann::json::parse(std::ifstream(dir / "config.json")); }
  void write_config(const nlohmann::json& j) const { std::ofstream(dir / "config.json") << j.dump(2); }

  /// Rewrites model.safetensors through `edit`, which may change the list of tensors.
  template <class Edit>
  void rewrite_weights(Edit edit) const {
    std::vector<std::vector<std::byte>> bytes;
    std::vector<kvc::io::tensor_to_write> tensors;
    {
      const auto ck = kvc::io::checkpoint::open(dir);
      for (const auto& name : ck.names()) {
        const auto ref = ck.at(name);
        bytes.emplace_back(ref.data, ref.data + ref.bytes());
        tensors.push_back({name, ref.info->dtype_name, ref.info->shape, {}});
      }
    }
    for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].data = bytes[i];
    edit(tensors);
    kvc::io::write_safetensors(dir / "model.safetensors", tensors);
  }
};

fs::path t1_f32() { return kvc::test::qwen3_dir() / "t1_f32"; }
fs::path t1_bf16() { return kvc::test::qwen3_dir() / "t1_bf16"; }

}  // namespace

TEST_CASE("the unmodified copies load (the fixtures below differ only by the defect)", "[model][errors]") {
  temp_copy c(t1_f32());
  CHECK_NOTHROW(kvc::qwen3::model::load(c.dir));
  temp_copy s(t1_bf16());
  CHECK_NOTHROW(kvc::qwen3::model::load(s.dir));
}

TEST_CASE("config.json missing a field", "[model][errors]") {
  temp_copy c(t1_f32());
  auto j = c.config();
  j.erase("num_attention_heads");
  c.write_config(j);
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir),
                    Catch::Contains("num_attention_heads") && Catch::Contains("config.json"));
}

TEST_CASE("config.json with a layer count that disagrees with the weights", "[model][errors]") {
  temp_copy c(t1_f32());
  auto j = c.config();
  j["num_hidden_layers"] = 2;
  c.write_config(j);
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir), Catch::Contains("model.layers.2."));
  j["num_hidden_layers"] = 4;
  c.write_config(j);
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir),
                    Catch::Contains("missing tensor") && Catch::Contains("model.layers.3."));
}

TEST_CASE("a tensor with the wrong shape", "[model][errors]") {
  temp_copy c(t1_f32());
  c.rewrite_weights([](auto& tensors) {
    for (auto& t : tensors)
      if (t.name == "model.layers.1.self_attn.k_proj.weight") t.shape = {32, 128};  // stored [64, 64]
  });
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir),
                    Catch::Contains("model.layers.1.self_attn.k_proj.weight") && Catch::Contains("[32, 128]") &&
                        Catch::Contains("[64, 64]"));
}

TEST_CASE("a missing tensor", "[model][errors]") {
  temp_copy c(t1_f32());
  c.rewrite_weights([](auto& tensors) {
    std::erase_if(tensors, [](const auto& t) { return t.name == "model.layers.2.mlp.up_proj.weight"; });
  });
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir),
                    Catch::Contains("missing tensor") && Catch::Contains("model.layers.2.mlp.up_proj.weight"));
}

TEST_CASE("untied config whose checkpoint lacks lm_head.weight", "[model][errors]") {
  temp_copy c(t1_f32());
  c.rewrite_weights([](auto& tensors) {
    std::erase_if(tensors, [](const auto& t) { return t.name == "lm_head.weight"; });
  });
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir), Catch::Contains("lm_head.weight"));
}

TEST_CASE("an unsupported bias tensor", "[model][errors]") {
  temp_copy c(t1_f32());
  std::vector<std::byte> bias(128 * 4, std::byte{0x3f});
  c.rewrite_weights([&](auto& tensors) {
    tensors.push_back({"model.layers.0.self_attn.q_proj.bias", "F32", {128}, bias});
  });
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir), Catch::Contains("model.layers.0.self_attn.q_proj.bias"));
}

TEST_CASE("a truncated shard names the shard file", "[model][errors]") {
  temp_copy c(t1_bf16());
  const auto shard = c.dir / "model-00002-of-00003.safetensors";
  REQUIRE(fs::exists(shard));
  fs::resize_file(shard, fs::file_size(shard) - 10);
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir), Catch::Contains("model-00002-of-00003.safetensors"));
}

TEST_CASE("a bad header length names the shard file", "[model][errors]") {
  temp_copy c(t1_bf16());
  const auto shard = c.dir / "model-00001-of-00003.safetensors";
  REQUIRE(fs::exists(shard));
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    const unsigned char huge[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00};
    f.write(reinterpret_cast<const char*>(huge), 8);
  }
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir), Catch::Contains("model-00001-of-00003.safetensors"));
}

TEST_CASE("a shard listed in the index but absent", "[model][errors]") {
  temp_copy c(t1_bf16());
  fs::remove(c.dir / "model-00003-of-00003.safetensors");
  CHECK_THROWS_WITH(kvc::qwen3::model::load(c.dir), Catch::Contains("model-00003-of-00003.safetensors"));
}
