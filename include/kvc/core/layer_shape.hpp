// The attention shape of one layer: query heads, KV heads, head_dim.
#pragma once

#include <cmath>
#include <cstddef>

#include "kvc/core/error.hpp"

namespace kvc {

/// Head layout of one attention layer. Query head h reads KV head h / (q_heads / kv_heads).
struct layer_shape {
  int q_heads = 0;   // e.g. 32 for Qwen3-8B
  int kv_heads = 0;  // e.g. 8
  int head_dim = 0;  // e.g. 128
  float scale = 0;   // softmax scale; 0 means 1/sqrt(head_dim)

  int group() const { return q_heads / kv_heads; }
  float softmax_scale() const { return scale > 0 ? scale : 1.0f / std::sqrt(float(head_dim)); }

  /// Throws kvc::error naming the offending field.
  void validate() const {
    detail::require(q_heads > 0, "q_heads must be positive, got ", q_heads);
    detail::require(kv_heads > 0, "kv_heads must be positive, got ", kv_heads);
    detail::require(head_dim > 0, "head_dim must be positive, got ", head_dim);
    detail::require(q_heads % kv_heads == 0, "q_heads (", q_heads,
                    ") must be a multiple of kv_heads (", kv_heads, ")");
    detail::require(scale >= 0, "scale must be >= 0 (0 selects 1/sqrt(head_dim)), got ", scale);
    detail::require(head_dim % 8 == 0, "head_dim must be a multiple of 8, got ", head_dim);
  }
  friend bool operator==(const layer_shape&, const layer_shape&) = default;
};

}  // namespace kvc
