// RMSNorm (per row and per head), SwiGLU and the residual add over f32 activations.
#include "model/layers.hpp"

#include <cmath>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {

void rms_norm(tensor_view<const float, 2> x, std::span<const float> weight, float eps,
              tensor_view<float, 2> y) {
  const std::size_t rows = x.extent(0), width = x.extent(1);
  kvc::detail::require(weight.size() == width, "rms_norm: weight has ", weight.size(),
                       " elements, rows have ", width);
  kvc::detail::require(y.extent(0) == rows && y.extent(1) == width, "rms_norm: output shape mismatch");
  for (std::size_t r = 0; r < rows; ++r) {
    const float* in = x.row(r);
    float* out = y.row(r);
    double ss = 0;
    for (std::size_t i = 0; i < width; ++i) ss += double(in[i]) * double(in[i]);
    const float variance = float(ss / double(width));
    const float inv = 1.0f / std::sqrt(variance + eps);  // HF: rsqrt(mean(x²) + eps) in f32
    for (std::size_t i = 0; i < width; ++i) out[i] = weight[i] * (in[i] * inv);
  }
}

void rms_norm_heads(tensor_view<float, 2> x, std::size_t head_dim, std::span<const float> weight, float eps) {
  kvc::detail::require(head_dim > 0 && x.extent(1) % head_dim == 0, "rms_norm_heads: width ", x.extent(1),
                       " is not a multiple of head_dim ", head_dim);
  const tensor_view<float, 2> heads(x.data(), {x.extent(0) * x.extent(1) / head_dim, head_dim});
  rms_norm(heads, weight, eps, heads);
}

void swiglu(tensor_view<float, 2> gate, tensor_view<const float, 2> up) {
  kvc::detail::require(gate.shape() == up.shape(), "swiglu: gate and up shapes differ");
  for (std::size_t t = 0; t < gate.extent(0); ++t) {
    float* g = gate.row(t);
    const float* u = up.row(t);
    for (std::size_t i = 0; i < gate.extent(1); ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

void add_in_place(tensor_view<float, 2> x, tensor_view<const float, 2> delta) {
  kvc::detail::require(x.shape() == delta.shape(), "add: shapes differ");
  for (std::size_t t = 0; t < x.extent(0); ++t) {
    float* a = x.row(t);
    const float* b = delta.row(t);
    for (std::size_t i = 0; i < x.extent(1); ++i) a[i] += b[i];
  }
}

}  // namespace kvc::qwen3
