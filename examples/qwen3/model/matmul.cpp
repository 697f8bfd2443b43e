// Matrix-vector and batched matrix products over bf16/f16/f32 weights, f32 accumulation, OpenMP.
#include "model/matmul.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "kvc/core/error.hpp"
#include "model/dot.hpp"


namespace kvc::qwen3 {
namespace {

// Below this many weight elements a product runs on one thread (waking a team costs more).
constexpr std::int64_t parallel_threshold = std::int64_t(1) << 16;

inline float widen(float x) { return x; }
inline float widen(kvc::bf16 x) { return std::bit_cast<float>(std::uint32_t(x.bits) << 16); }
inline float widen(kvc::f16 x) { return kvc::to_float(x); }

inline float dot(const dot_kernels& k, const float* w, const float* x, std::int64_t n) { return k.f32(w, x, n); }
inline float dot(const dot_kernels& k, const kvc::bf16* w, const float* x, std::int64_t n) {
  return k.bf16(w, x, n);
}

// One token: stream each row once, straight from the (mapped) weights.
template <class W>
void matvec(const W* w, std::int64_t rows, std::int64_t cols, const float* x, float* y) {
  const dot_kernels& k = best_dot_kernels();
#pragma omp parallel for schedule(static) if (rows * cols >= parallel_threshold)
  for (std::int64_t r = 0; r < rows; ++r) y[r] = dot(k, w + r * cols, x, cols);
}

// Several tokens: widen a tile of rows to f32 once, then run every token against it.
template <class W>
void matmul_batch(const weight_matrix& wm, const float* x, std::int64_t ldx, std::int64_t n, float* y,
                  std::int64_t ldy) {
  const std::int64_t rows = wm.rows, cols = wm.cols;
  const auto* w = static_cast<const W*>(wm.data);
  const dot_kernels& k = best_dot_kernels();
  constexpr std::int64_t tile = 4;
  const std::int64_t tiles = (rows + tile - 1) / tile;
#pragma omp parallel if (rows * cols * n >= parallel_threshold)
  {
    std::vector<float> buf(std::size_t(tile * cols));
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < tiles; ++t) {
      const std::int64_t r0 = t * tile, r1 = std::min(rows, r0 + tile);
      for (std::int64_t r = r0; r < r1; ++r) {
        const W* src = w + r * cols;
        float* dst = buf.data() + (r - r0) * cols;
        for (std::int64_t c = 0; c < cols; ++c) dst[c] = widen(src[c]);
      }
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t r = r0; r < r1; ++r)
          y[i * ldy + r] = k.f32(buf.data() + (r - r0) * cols, x + i * ldx, cols);
    }
  }
}

}  // namespace

void weight_matrix::row_to_float(std::int64_t r, float* out) const {
  kvc::detail::require(r >= 0 && r < rows, "row ", r, " out of range [0, ", rows, ")");
  switch (type) {
    case kvc::dtype::f32:
      std::memcpy(out, static_cast<const float*>(data) + r * cols, std::size_t(cols) * sizeof(float));
      return;
    case kvc::dtype::bf16: {
      const auto* p = static_cast<const kvc::bf16*>(data) + r * cols;
      for (std::int64_t c = 0; c < cols; ++c) out[c] = widen(p[c]);
      return;
    }
    case kvc::dtype::f16: {
      const auto* p = static_cast<const kvc::f16*>(data) + r * cols;
      for (std::int64_t c = 0; c < cols; ++c) out[c] = widen(p[c]);
      return;
    }
  }
}

void matmul(const weight_matrix& w, tensor_view<const float, 2> x, tensor_view<float, 2> y) {
  kvc::detail::require(x.extent(1) == std::size_t(w.cols), "matmul: x has ", x.extent(1),
                       " columns, weight has ", w.cols);
  kvc::detail::require(y.extent(1) == std::size_t(w.rows) && y.extent(0) == x.extent(0),
                       "matmul: y must be [", x.extent(0), ", ", w.rows, "], got [", y.extent(0), ", ",
                       y.extent(1), "]");
  kvc::detail::require(x.stride(1) == 1 && y.stride(1) == 1, "matmul: rows must be contiguous");
  const auto n = std::int64_t(x.extent(0));
  if (n == 0) return;
  if (n == 1 && w.type != kvc::dtype::f16) {
    if (w.type == kvc::dtype::bf16)
      matvec(static_cast<const kvc::bf16*>(w.data), w.rows, w.cols, x.data(), y.data());
    else
      matvec(static_cast<const float*>(w.data), w.rows, w.cols, x.data(), y.data());
    return;
  }
  switch (w.type) {
    case kvc::dtype::f32: return matmul_batch<float>(w, x.data(), x.stride(0), n, y.data(), y.stride(0));
    case kvc::dtype::bf16:
      return matmul_batch<kvc::bf16>(w, x.data(), x.stride(0), n, y.data(), y.stride(0));
    case kvc::dtype::f16:  // rare in Qwen3 checkpoints: rows widened once per tile, then f32 dots
      return matmul_batch<kvc::f16>(w, x.data(), x.stride(0), n, y.data(), y.stride(0));
  }
}

}  // namespace kvc::qwen3
