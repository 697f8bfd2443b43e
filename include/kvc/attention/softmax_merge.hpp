// The merge rule of split attention on (m, l, acc), shared by the CPU kernels and device code.
#pragma once

#include <cmath>
#include <cstddef>

#include "kvc/config.hpp"

namespace kvc {

/// Merges a partial (m2, l2, acc2 [dim]) over some keys into the running state (m, l, acc [dim])
/// over other keys: m is the max score, l = Σ exp(s - m) and acc = Σ exp(s - m) v. Partials over
/// disjoint key sets merge exactly (FlashAttention, flash-decoding split-K), in any order.
/// A partial that saw no keys (l2 = 0) changes nothing; into an empty state (l = 0) the partial
/// is copied, so no exp(-inf - -inf) is ever taken. The multiply-adds are explicit fmaf, so every
/// compiler (g++ with or without FMA contraction, nvcc's host and device passes) gives the same bits.
KVC_HOST_DEVICE inline void softmax_merge(float& m, float& l, float* acc, float m2, float l2, const float* acc2,
                                          std::size_t dim) {
  if (l2 == 0.0f) return;
  if (l == 0.0f) {
    m = m2;
    l = l2;
    for (std::size_t d = 0; d < dim; ++d) acc[d] = acc2[d];
    return;
  }
  const float mn = m < m2 ? m2 : m;
  const float c1 = expf(m - mn);
  const float c2 = expf(m2 - mn);
  for (std::size_t d = 0; d < dim; ++d) acc[d] = fmaf(acc2[d], c2, acc[d] * c1);
  l = fmaf(l2, c2, l * c1);
  m = mn;
}

/// out [dim] = acc / l: the attention output of a finished state (zero if it saw no keys).
KVC_HOST_DEVICE inline void softmax_normalize(float l, const float* acc, float* out, std::size_t dim) {
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (std::size_t d = 0; d < dim; ++d) out[d] = acc[d] * inv;
}

}  // namespace kvc
