// Rotary position embedding (NeoX / rotate_half layout) with default, linear, YaRN and Llama-3 frequencies.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kvc/core/tensor_view.hpp"
#include "model/config.hpp"

namespace kvc::qwen3 {

/// Inverse frequencies and the cos/sin multiplier of one model, computed as transformers does
/// (f32 tensors; YaRN per ../shared/research/qwen3.md §1.7).
class rope_table {
 public:
  /// Throws kvc::error for an odd head_dim or an unsupported rope type.
  rope_table(const rope_config& rope, int head_dim);

  /// inv_freq[i], i < head_dim/2 // [head_dim / 2]
  std::span<const float> inv_freq() const { return inv_freq_; }
  /// Multiplier of cos and sin (YaRN's attention factor; 1 otherwise).
  float attention_factor() const { return attention_factor_; }
  int head_dim() const { return head_dim_; }

  /// Rotates x in place: x'_j = x_j·cos − x_{j+d/2}·sin, x'_{j+d/2} = x_{j+d/2}·cos + x_j·sin.
  /// x // [tokens, heads, head_dim]; positions // [tokens]
  void apply(tensor_view<float, 3> x, std::span<const std::int32_t> positions) const;

 private:
  std::vector<float> inv_freq_;
  float attention_factor_ = 1.0f;
  int head_dim_ = 0;
};

}  // namespace kvc::qwen3
