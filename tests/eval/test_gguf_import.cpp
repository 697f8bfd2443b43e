// GGUF import into the reference model: a tiny Llama checkpoint written as GGUF the way
// llama.cpp's converter does (Q/K rows permuted, ggml dimension order) imports back to the same
// logits; the permutation is undone exactly.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "app/gguf_import.hpp"
#include "kvc/io/gguf.hpp"
#include "kvc/io/safetensors.hpp"
#include "model/model.hpp"
#include "support/gguf_builder.hpp"

namespace {

namespace fs = std::filesystem;
const fs::path l1 = fs::path(KVC_TEST_DATA_DIR) / "qwen3" / "l1_f32";

/// llama.cpp convert_hf_to_gguf.py `permute`: per head, rows (2, d/2) -> (d/2, 2).
std::vector<float> permute_rows(const std::vector<float>& w, int heads, int head_dim, std::size_t cols) {
  std::vector<float> out(w.size());
  const std::size_t half = std::size_t(head_dim / 2);
  for (int h = 0; h < heads; ++h)
    for (std::size_t s = 0; s < 2; ++s)
      for (std::size_t i = 0; i < half; ++i) {
        const std::size_t hf_row = std::size_t(h) * head_dim + s * half + i;
        const std::size_t gguf_row = std::size_t(h) * head_dim + i * 2 + s;
        std::memcpy(&out[gguf_row * cols], &w[hf_row * cols], cols * sizeof(float));
      }
  return out;
}


struct gguf_tensor {
  std::string name;
  std::vector<std::int64_t> shape;  // row-major
  std::vector<float> data;
};

void write_gguf(const fs::path& path, const std::vector<gguf_tensor>& tensors, int kv_heads) {
  kvc::test::gguf_builder w;
  w.header(3, tensors.size(), 10);
  w.kv_str("general.architecture", "llama");
  w.kv_u32("llama.block_count", 2);
  w.kv_u32("llama.context_length", 2048);
  w.kv_u32("llama.embedding_length", 64);
  w.kv_u32("llama.feed_forward_length", 128);
  w.kv_u32("llama.attention.head_count", 4);
  w.kv_u32("llama.attention.head_count_kv", std::uint32_t(kv_heads));
  w.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  w.kv_f32("llama.rope.freq_base", 10000.0f);
  w.kv_u32("general.alignment", 64);
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    w.tensor_info(t.name, std::vector<std::uint64_t>(t.shape.rbegin(), t.shape.rend()), 0 /* F32 */, offset);
    offset += (t.data.size() * 4 + 63) / 64 * 64;
  }
  w.pad(64);
  for (const auto& t : tensors) {
    const auto* p = reinterpret_cast<const std::byte*>(t.data.data());
    w.b.insert(w.b.end(), p, p + t.data.size() * 4);
    w.pad(64);
  }
  REQUIRE(w.write(path));
}

std::string gguf_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  const auto dot = hf.find('.', 13);  // "model.layers.N."
  const std::string layer = hf.substr(13, dot - 13), rest = hf.substr(dot + 1);
  const std::pair<const char*, const char*> map[] = {
      {"input_layernorm.weight", "attn_norm"}, {"post_attention_layernorm.weight", "ffn_norm"},
      {"self_attn.q_proj.weight", "attn_q"},   {"self_attn.k_proj.weight", "attn_k"},
      {"self_attn.v_proj.weight", "attn_v"},   {"self_attn.o_proj.weight", "attn_output"},
      {"mlp.gate_proj.weight", "ffn_gate"},    {"mlp.up_proj.weight", "ffn_up"},
      {"mlp.down_proj.weight", "ffn_down"}};
  for (auto [from, to] : map)
    if (rest == from) return "blk." + layer + "." + to + ".weight";
  FAIL("unmapped tensor " << hf);
  return {};
}

}  // namespace

TEST_CASE("gguf import: unpermute_qk_rows inverts llama.cpp's permutation") {
  const int heads = 3, d = 8;
  const std::size_t cols = 5;
  std::vector<float> w(std::size_t(heads * d) * cols);
  std::iota(w.begin(), w.end(), 0.0f);
  auto p = permute_rows(w, heads, d, cols);
  CHECK(p != w);
  kvc::qwen3::unpermute_qk_rows(p.data(), heads, d, std::int64_t(cols));
  CHECK(p == w);
}

TEST_CASE("gguf import: tensor names and config") {
  CHECK(kvc::qwen3::gguf_to_hf_name("blk.12.attn_k.weight") == "model.layers.12.self_attn.k_proj.weight");
  CHECK(kvc::qwen3::gguf_to_hf_name("blk.0.ffn_down.weight") == "model.layers.0.mlp.down_proj.weight");
  CHECK(kvc::qwen3::gguf_to_hf_name("token_embd.weight") == "model.embed_tokens.weight");
  CHECK_THROWS_AS(kvc::qwen3::gguf_to_hf_name("blk.0.attn_qkv.weight"), kvc::error);
}

TEST_CASE("gguf import: a Llama checkpoint round-trips through GGUF to the same logits") {
  const auto ckpt = kvc::io::checkpoint::open(l1);
  const int kv_heads = 2, heads = 4, head_dim = 16;
  std::vector<gguf_tensor> tensors;
  for (const auto& name : ckpt.names()) {
    const auto ref = ckpt.at(name);
    gguf_tensor t{gguf_name(name), ref.info->shape, ref.to_float()};
    if (name.find("q_proj") != std::string::npos) t.data = permute_rows(t.data, heads, head_dim, 64);
    if (name.find("k_proj") != std::string::npos) t.data = permute_rows(t.data, kv_heads, head_dim, 64);
    tensors.push_back(std::move(t));
  }
  const fs::path dir = fs::temp_directory_path() / "kvc_test_gguf_import";
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_gguf(dir / "l1.gguf", tensors, kv_heads);

  const fs::path imported = kvc::qwen3::resolve_model_path(dir / "l1.gguf");
  CHECK(imported == dir / "l1.gguf.kvc");
  CHECK(fs::exists(imported / "config.json"));
  const auto a = kvc::qwen3::model::load(l1);
  const auto b = kvc::qwen3::model::load(imported);
  CHECK(b.config().arch == kvc::qwen3::architecture::llama);
  CHECK(b.config().num_kv_heads == 2);
  CHECK(b.config().head_dim == 16);
  CHECK(!b.config().tie_word_embeddings);

  const std::vector<std::int32_t> tokens{1, 17, 99, 5, 42, 7, 127, 3, 64, 8};
  auto ca = a.make_cache("full:f32");
  auto cb = b.make_cache("full:f32");
  const auto la = a.forward(tokens, ca);
  const auto lb = b.forward(tokens, cb);
  REQUIRE(la.size() == lb.size());
  double max_diff = 0, max_abs = 0;
  for (std::size_t i = 0; i < la.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(double(la[i]) - double(lb[i])));
    max_abs = std::max(max_abs, std::abs(double(la[i])));
  }
  INFO("max |dlogit| " << max_diff << " of max |logit| " << max_abs);
  CHECK(max_abs > 0);
  CHECK(max_diff <= 1e-5 * max_abs);  // only rms eps passes through f32 (1e-6 -> 9.99999997e-7)

  // Without the un-permutation the logits would differ: importing a file whose q/k were not
  // permuted (so the import scrambles them) must change them.
  for (auto& t : tensors)
    if (t.name.find("attn_q") != std::string::npos || t.name.find("attn_k") != std::string::npos) {
      const int h = t.name.find("attn_q") != std::string::npos ? heads : kv_heads;
      kvc::qwen3::unpermute_qk_rows(t.data.data(), h, head_dim, 64);  // back to HF order
    }
  write_gguf(dir / "wrong.gguf", tensors, kv_heads);
  const auto c = kvc::qwen3::model::load(kvc::qwen3::resolve_model_path(dir / "wrong.gguf"));
  auto cc = c.make_cache("full:f32");
  const auto lc = c.forward(tokens, cc);
  double wrong_diff = 0;
  for (std::size_t i = 0; i < la.size(); ++i) wrong_diff = std::max(wrong_diff, std::abs(double(la[i]) - double(lc[i])));
  CHECK(wrong_diff > 1e3 * max_diff);
  fs::remove_all(dir);
}
