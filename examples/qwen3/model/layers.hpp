// Element-wise pieces of a decoder layer: RMSNorm (per row and per head), the SwiGLU gate, the residual add.
#pragma once

#include <cstddef>
#include <span>

#include "kvc/core/tensor_view.hpp"

namespace kvc::qwen3 {

/// RMSNorm over the last dimension, as HF Qwen3RMSNorm/LlamaRMSNorm in f32:
/// y = w · x / sqrt(mean(x²) + eps). x // [rows, width]; weight // [width]; y // [rows, width]
/// (y may alias x).
void rms_norm(tensor_view<const float, 2> x, std::span<const float> weight, float eps,
              tensor_view<float, 2> y);

/// RMSNorm of each head of x in place (Qwen3's q_norm / k_norm): x // [rows, heads·head_dim],
/// normalised over every head_dim-wide slice; weight // [head_dim]
void rms_norm_heads(tensor_view<float, 2> x, std::size_t head_dim, std::span<const float> weight, float eps);

/// gate ← silu(gate) ⊙ up, silu(z) = z·sigmoid(z). gate, up // [tokens, intermediate]
void swiglu(tensor_view<float, 2> gate, tensor_view<const float, 2> up);

/// x ← x + delta. x, delta // [tokens, hidden]
void add_in_place(tensor_view<float, 2> x, tensor_view<const float, 2> delta);

}  // namespace kvc::qwen3
