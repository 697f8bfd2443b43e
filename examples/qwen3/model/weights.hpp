// Binds a checkpoint's tensors (HF names) to the model's layers, checking every shape against the config.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "kvc/io/safetensors.hpp"
#include "model/config.hpp"
#include "model/matmul.hpp"

namespace kvc::qwen3 {

/// One decoder layer's tensors. Matrices stay in the checkpoint's memory and dtype; the small
/// norm vectors are widened to f32.
struct layer_weights {
  std::vector<float> input_norm;  // [hidden]
  std::vector<float> post_norm;   // [hidden]
  std::vector<float> q_norm;      // [head_dim] (Qwen3 only; empty for Llama)
  std::vector<float> k_norm;      // [head_dim] (Qwen3 only)
  weight_matrix q_proj;           // [nh·d, hidden]
  weight_matrix k_proj;           // [nkv·d, hidden]
  weight_matrix v_proj;           // [nkv·d, hidden]
  weight_matrix o_proj;           // [hidden, nh·d]
  weight_matrix gate_proj;        // [intermediate, hidden]
  weight_matrix up_proj;          // [intermediate, hidden]
  weight_matrix down_proj;        // [hidden, intermediate]
};

/// Every weight of the model, viewing a checkpoint that it keeps alive.
struct model_weights {
  std::shared_ptr<const kvc::io::checkpoint> source;
  weight_matrix embed;            // [vocab, hidden]
  weight_matrix lm_head;          // [vocab, hidden] (the embedding when tied)
  std::vector<float> final_norm;  // [hidden]
  std::vector<layer_weights> layers;

  /// Binds tensors by their Hugging Face names. Throws kvc::error naming the tensor and the
  /// checkpoint for a missing tensor, a wrong shape or dtype, a bias (unsupported) or any tensor
  /// the model does not use (a config that disagrees with the checkpoint). When embeddings are
  /// tied a stored `lm_head.weight` is tolerated and ignored.
  static model_weights bind(std::shared_ptr<const kvc::io::checkpoint> ckpt, const model_config& config);

  /// Bytes of weights read by one decode step: every layer matrix plus lm_head (the embedding
  /// contributes one row per token, not counted).
  std::size_t bytes_per_token() const;
  /// Bytes of all distinct weights.
  std::size_t total_bytes() const;

 private:
  std::vector<std::unique_ptr<std::byte[]>> realigned_;  // copies of tensors not aligned in the file
  friend struct weight_binder;
};

/// The bytes of every tensor model_weights::bind reads from a checkpoint of `config` stored as
/// `type` (matrices, embeddings, lm_head unless tied, norms), without opening one: planners count
/// it (kvc-plan). Equals the bound checkpoint's tensor bytes (tests/plan/test_memory_plan.cpp).
std::size_t weight_bytes_for(const model_config& config, kvc::dtype type);

}  // namespace kvc::qwen3
