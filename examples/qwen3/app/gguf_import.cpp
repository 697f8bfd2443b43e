// GGUF -> HF checkpoint directory: config from `<arch>.*` metadata, tensors renamed, dequantized
// and (Llama) un-permuted.
#include "app/gguf_import.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <vector>

#include "app/gguf_tokenizer.hpp"
#include "kvc/core/error.hpp"
#include "kvc/io/safetensors_writer.hpp"

namespace kvc::qwen3 {
namespace {

using kvc::detail::fail;
using kvc::detail::require;

std::uint64_t meta_uint(const kvc::io::gguf_file& f, const std::string& key) {
  return f.at(key).to_uint(f.path().string() + ": " + key);
}

}  // namespace

nlohmann::json gguf_to_hf_config(const kvc::io::gguf_file& f) {
  const std::string file = f.path().string();
  const std::string arch = f.at("general.architecture").to_string(file + ": general.architecture");
  require(arch == "llama" || arch == "qwen3", file, ": general.architecture '", arch,
          "' is not supported (llama, qwen3)");
  const auto key = [&](const char* k) { return arch + "." + k; };
  nlohmann::json c;
  c["model_type"] = arch;
  c["architectures"] = {arch == "llama" ? "LlamaForCausalLM" : "Qwen3ForCausalLM"};
  const auto hidden = meta_uint(f, key("embedding_length"));
  const auto heads = meta_uint(f, key("attention.head_count"));
  c["hidden_size"] = hidden;
  c["intermediate_size"] = meta_uint(f, key("feed_forward_length"));
  c["num_hidden_layers"] = meta_uint(f, key("block_count"));
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] =
      f.find(key("attention.head_count_kv")) ? meta_uint(f, key("attention.head_count_kv")) : heads;
  require(heads > 0, file, ": ", key("attention.head_count"), " is 0");
  c["head_dim"] = f.find(key("attention.key_length")) ? meta_uint(f, key("attention.key_length")) : hidden / heads;
  c["rms_norm_eps"] = f.at(key("attention.layer_norm_rms_epsilon")).to_double(file + ": rms eps");
  c["rope_theta"] = f.find(key("rope.freq_base")) ? f.at(key("rope.freq_base")).to_double() : 10000.0;
  if (f.find(key("context_length"))) c["max_position_embeddings"] = meta_uint(f, key("context_length"));
  // vocab_size: the embedding's rows (the tokenizer list may be longer or shorter).
  const auto& embd = f.tensor("token_embd.weight");
  require(embd.dims.size() == 2 && embd.dims[0] == hidden, file, ": token_embd.weight has the wrong shape");
  c["vocab_size"] = embd.dims[1];
  c["tie_word_embeddings"] = f.header().find_tensor("output.weight") == nullptr;
  if (f.find("tokenizer.ggml.bos_token_id")) c["bos_token_id"] = meta_uint(f, "tokenizer.ggml.bos_token_id");
  if (f.find("tokenizer.ggml.eos_token_id")) c["eos_token_id"] = meta_uint(f, "tokenizer.ggml.eos_token_id");
  c["hidden_act"] = "silu";
  c["torch_dtype"] = "float32";
  if (f.find(key("rope.scaling.type"))) {
    const std::string t = f.at(key("rope.scaling.type")).to_string();
    require(t == "none", file, ": rope scaling '", t, "' is not imported");
  }
  return c;
}

std::string gguf_to_hf_name(const std::string& n) {
  if (n == "token_embd.weight") return "model.embed_tokens.weight";
  if (n == "output_norm.weight") return "model.norm.weight";
  if (n == "output.weight") return "lm_head.weight";
  static const std::regex blk(R"(blk\.(\d+)\.([a-z_]+)\.weight)");
  std::smatch m;
  if (std::regex_match(n, m, blk)) {
    const std::string p = "model.layers." + m[1].str() + ".";
    const std::string t = m[2].str();
    if (t == "attn_norm") return p + "input_layernorm.weight";
    if (t == "ffn_norm") return p + "post_attention_layernorm.weight";
    if (t == "attn_q") return p + "self_attn.q_proj.weight";
    if (t == "attn_k") return p + "self_attn.k_proj.weight";
    if (t == "attn_v") return p + "self_attn.v_proj.weight";
    if (t == "attn_output") return p + "self_attn.o_proj.weight";
    if (t == "attn_q_norm") return p + "self_attn.q_norm.weight";
    if (t == "attn_k_norm") return p + "self_attn.k_norm.weight";
    if (t == "ffn_gate") return p + "mlp.gate_proj.weight";
    if (t == "ffn_up") return p + "mlp.up_proj.weight";
    if (t == "ffn_down") return p + "mlp.down_proj.weight";
  }
  fail("GGUF tensor '", n, "' has no Hugging Face equivalent in the reference model");
}

void unpermute_qk_rows(float* w, int heads, int head_dim, std::int64_t cols) {
  require(head_dim % 2 == 0, "unpermute_qk_rows: head_dim ", head_dim, " is odd");
  const std::size_t row = std::size_t(cols), half = std::size_t(head_dim / 2);
  std::vector<float> head(std::size_t(head_dim) * row);
  for (int h = 0; h < heads; ++h) {
    float* base = w + std::size_t(h) * head_dim * row;
    std::memcpy(head.data(), base, head.size() * sizeof(float));
    // GGUF row i*2 + s holds HF row s*half + i.
    for (std::size_t i = 0; i < half; ++i)
      for (std::size_t s = 0; s < 2; ++s)
        std::memcpy(base + (s * half + i) * row, head.data() + (i * 2 + s) * row, row * sizeof(float));
  }
}

void import_gguf(const std::filesystem::path& gguf_path, const std::filesystem::path& out_dir,
                 kvc::dtype storage) {
  const auto f = kvc::io::gguf_file::open(gguf_path);
  const nlohmann::json config = gguf_to_hf_config(f);
  const bool llama = config["model_type"] == "llama";
  const int heads = config["num_attention_heads"], kv_heads = config["num_key_value_heads"];
  const int head_dim = config["head_dim"];

  std::vector<std::vector<std::byte>> buffers;
  std::vector<kvc::io::tensor_to_write> tensors;
  buffers.reserve(f.tensors().size());
  for (const auto& info : f.tensors()) {
    if (info.name == "rope_freqs.weight") continue;  // llama3 rope factors: config carries them
    const std::string name = gguf_to_hf_name(info.name);
    std::vector<float> values = f.to_float(info);
    const auto shape = info.shape();
    if (llama && (name.ends_with("q_proj.weight") || name.ends_with("k_proj.weight"))) {
      const int h = name.ends_with("q_proj.weight") ? heads : kv_heads;
      require(shape.size() == 2 && shape[0] == std::int64_t(h) * head_dim, f.path().string(), ": tensor '",
              info.name, "' has ", shape[0], " rows, expected ", h, " x ", head_dim);
      unpermute_qk_rows(values.data(), h, head_dim, shape[1]);
    }
    std::vector<std::byte> bytes;
    if (storage == kvc::dtype::f32 || shape.size() == 1) {  // norms stay f32
      bytes.resize(values.size() * 4);
      std::memcpy(bytes.data(), values.data(), bytes.size());
      tensors.push_back({name, "F32", shape, {}});
    } else {
      bytes.resize(values.size() * 2);
      for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint16_t b = storage == kvc::dtype::bf16 ? kvc::to_bf16(values[i]).bits : kvc::to_f16(values[i]).bits;
        std::memcpy(bytes.data() + 2 * i, &b, 2);
      }
      tensors.push_back({name, storage == kvc::dtype::bf16 ? "BF16" : "F16", shape, {}});
    }
    buffers.push_back(std::move(bytes));
    tensors.back().data = buffers.back();
  }
  std::filesystem::create_directories(out_dir);
  kvc::io::write_safetensors(out_dir / "model.safetensors", tensors,
                             {{"format", "pt"}, {"source", "gguf import: " + gguf_path.filename().string()}});
  std::ofstream os(out_dir / "config.json");
  require(bool(os), "cannot write ", (out_dir / "config.json").string());
  os << config.dump(2) << '\n';
  require(bool(os), "cannot write ", (out_dir / "config.json").string());
  write_gguf_tokenizer(f, out_dir);
}

std::filesystem::path resolve_model_path(const std::filesystem::path& path) {
  if (path.extension() != ".gguf") return path;
  std::filesystem::path dir = path;
  dir += ".kvc";
  const auto stamp = dir / "model.safetensors";
  if (!std::filesystem::exists(stamp) || !std::filesystem::exists(dir / "config.json") ||
      std::filesystem::last_write_time(stamp) < std::filesystem::last_write_time(path)) {
    std::fprintf(stderr, "importing %s into %s (once)\n", path.string().c_str(), dir.string().c_str());
    import_gguf(path, dir);
  } else if (!std::filesystem::exists(dir / "tokenizer.json")) {
    write_gguf_tokenizer(kvc::io::gguf_file::open(path), dir);  // an import made before tokenizers were
  }
  return dir;
}

}  // namespace kvc::qwen3
