// What a memory plan needs of a model without loading it: its config and its weights' stored bytes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

#include "kvc/core/dtype.hpp"
#include "kvc/memory_plan.hpp"
#include "model/config.hpp"

namespace kvc::qwen3 {

/// A model as kvc-plan sees it.
struct model_memory {
  model_config config;
  std::size_t weight_bytes = 0;  // every tensor the reference model binds, as stored
  std::string weight_source;     // how weight_bytes was found, e.g. "config.json, bf16"
};

/// Reads `path`: a checkpoint directory or its config.json (weights: the safetensors headers'
/// tensor bytes when the directory holds them and no `weight_type` is given; otherwise counted
/// from the config by weight_bytes_for in `weight_type`, else torch_dtype, else bf16), or a .gguf file
/// (config from its metadata, weights = its tensors' bytes in their own ggml types unless
/// `weight_type` is given). Reads no tensor data. Throws kvc::error naming the file and the field.
model_memory read_model_memory(const std::filesystem::path& path, std::optional<kvc::dtype> weight_type = {});

/// The activation bytes of one prefill chunk of `chunk` tokens: the reference model's forward
/// buffers (activations::bytes_for) and the f32 logits row of the chunk's last token.
std::size_t prefill_activation_bytes(const model_config& config, std::size_t chunk);

/// A memory_request for `model` (num_layers, attention shape, weights, activations of a
/// `prefill_chunk`-token chunk); the caller sets plan, context, batch,
/// tensor_parallel, device_memory and reserve_bytes.
kvc::memory_request model_memory_request(const model_memory& model, std::size_t prefill_chunk);

}  // namespace kvc::qwen3
