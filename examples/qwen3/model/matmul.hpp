// Weight matrices in their stored dtype (bf16, f16, f32) and y = x·Wᵀ with f32 accumulation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvc/core/dtype.hpp"
#include "kvc/core/tensor_view.hpp"

namespace kvc::qwen3 {

/// A non-owning row-major matrix `[rows, cols]` (an nn.Linear weight `[out_features, in_features]`
/// or an embedding `[vocab, hidden]`) kept in the checkpoint's dtype: no f32 copy of bf16 weights.
struct weight_matrix {
  kvc::dtype type = kvc::dtype::f32;
  const void* data = nullptr;  // [rows, cols], row-major, aligned for `type`
  std::int64_t rows = 0;
  std::int64_t cols = 0;

  std::size_t bytes() const { return std::size_t(rows * cols) * kvc::dtype_size(type); }
  /// Copies row r converted to f32 into out // [cols]
  void row_to_float(std::int64_t r, float* out) const;
};

/// y = x·Wᵀ: x // [tokens, w.cols] f32, contiguous rows; y // [tokens, w.rows] f32.
/// f32 accumulation; OpenMP threads over output rows. For one token this streams every weight
/// row once (memory-bound matrix-vector product, bf16 widened in registers); for several tokens
/// rows are widened once per tile of rows and reused for the whole batch.
void matmul(const weight_matrix& w, tensor_view<const float, 2> x, tensor_view<float, 2> y);

}  // namespace kvc::qwen3
