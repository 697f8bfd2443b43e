// Reading a model's config and weight bytes for the memory planner, from a checkpoint or a GGUF file.
#include "app/model_memory.hpp"

#include "app/gguf_import.hpp"
#include "kvc/io/gguf.hpp"
#include "kvc/io/safetensors.hpp"
#include "model/activations.hpp"
#include "model/weights.hpp"

namespace kvc::qwen3 {

model_memory read_model_memory(const std::filesystem::path& path, std::optional<kvc::dtype> weight_type) {
  model_memory m;
  if (path.extension() == ".gguf") {
    const auto file = kvc::io::gguf_file::open(path);
    m.config = model_config::from_json(gguf_to_hf_config(file), path.string());
    if (weight_type) {
      m.weight_bytes = weight_bytes_for(m.config, *weight_type);
      m.weight_source = "GGUF metadata, weights counted as " + std::string(kvc::dtype_name(*weight_type));
    } else {
      for (const auto& t : file.tensors()) m.weight_bytes += t.bytes;
      m.weight_source = "GGUF tensors in their stored types";
    }
    return m;
  }
  m.config = model_config::load(path);
  const std::filesystem::path dir = std::filesystem::is_directory(path) ? path : path.parent_path();
  const bool has_weights = std::filesystem::exists(dir / "model.safetensors") ||
                           std::filesystem::exists(dir / "model.safetensors.index.json");
  if (has_weights && !weight_type) {  // the tensors' own bytes, from the headers
    const auto ckpt = kvc::io::checkpoint::open(dir);
    for (const std::string& name : ckpt.names()) {
      if (name.ends_with("rotary_emb.inv_freq")) continue;              // not bound by the model
      if (m.config.tie_word_embeddings && name == "lm_head.weight") continue;  // a redundant copy
      m.weight_bytes += ckpt.at(name).bytes();
    }
    m.weight_source = "the checkpoint's tensors as stored";
    return m;
  }
  const kvc::dtype t = weight_type.value_or(m.config.stored_dtype.value_or(kvc::dtype::bf16));
  m.weight_bytes = weight_bytes_for(m.config, t);
  m.weight_source = "config.json, weights counted as " + std::string(kvc::dtype_name(t));
  return m;
}

std::size_t prefill_activation_bytes(const model_config& config, std::size_t chunk) {
  return activations::bytes_for(config, chunk) + std::size_t(config.vocab_size) * sizeof(float);
}

kvc::memory_request model_memory_request(const model_memory& model, std::size_t prefill_chunk) {
  kvc::memory_request r;
  r.num_layers = model.config.num_layers;
  r.shape = model.config.attention_shape();
  r.weight_bytes = model.weight_bytes;
  r.activation_bytes = prefill_activation_bytes(model.config, prefill_chunk);
  return r;
}

}  // namespace kvc::qwen3
