// Model hyper-parameters read from a Hugging Face config.json (Qwen3 dense and Llama family).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kvc/core/dtype.hpp"
#include "kvc/core/layer_shape.hpp"

namespace kvc::qwen3 {

/// Which graph: Qwen3 (q_norm/k_norm on every head before RoPE) or Llama (no q/k norm).
enum class architecture { qwen3, llama };

/// Rotary position embedding parameters (HF `rope_theta` + `rope_scaling` / `rope_parameters`).
struct rope_config {
  std::string type = "default";  // "default", "linear", "yarn" or "llama3"
  double theta = 10000.0;
  double factor = 1.0;
  int original_max_position_embeddings = 0;  // yarn, llama3
  // yarn
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  bool truncate = true;
  std::optional<double> attention_factor;
  std::optional<double> mscale, mscale_all_dim;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
};

/// Everything the forward pass needs from config.json.
struct model_config {
  architecture arch = architecture::qwen3;
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  rope_config rope;
  std::optional<kvc::dtype> stored_dtype;  // `torch_dtype` / `dtype`, when given
  std::vector<int> eos_token_ids;          // `eos_token_id`, int or list
  std::optional<int> bos_token_id;

  /// Parses a config.json object; `source` names the file in error messages. A missing required
  /// field, an unsupported model type or inconsistent sizes raise kvc::error naming the field.
  static model_config from_json(const nlohmann::json& j, std::string_view source = "config.json");
  /// Reads `dir/config.json` (or the file itself when `path` is a file).
  static model_config load(const std::filesystem::path& path);

  /// Attention head layout for the KV cache.
  layer_shape attention_shape() const { return {num_heads, num_kv_heads, head_dim}; }
  /// q_proj output width nh·d (need not equal hidden_size).
  int q_width() const { return num_heads * head_dim; }
  /// k_proj / v_proj output width nkv·d.
  int kv_width() const { return num_kv_heads * head_dim; }
  bool has_qk_norm() const { return arch == architecture::qwen3; }
};

}  // namespace kvc::qwen3
