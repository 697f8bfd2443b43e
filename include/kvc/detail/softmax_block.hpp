// One online-softmax step of a query row over a block of scores (shared by the CPU kernels).
#pragma once

#include <algorithm>
#include <cstddef>

#include "kvc/detail/fast_exp.hpp"
#include "kvc/detail/simd.hpp"

namespace kvc::detail {

/// Folds a block of scores into the running (m, l, acc) of one query row:
/// m = max(m, max s); acc [dim] and l are rescaled by exp(m_old - m) when the max grows;
/// s [n] is overwritten with the weights exp(s - m) and their sum is added to l.
inline void softmax_block(float* s, std::size_t n, float& m, float& l, float* acc, std::size_t dim) {
  using simd::vf;
  constexpr std::size_t W = simd::width;
  float mb = m;
  {
    vf mv = simd::splat(mb);
    std::size_t t = 0;
    for (; t + W <= n; t += W) {
      const vf x = simd::load(s + t);
      mv = x > mv ? x : mv;
    }
    for (std::size_t j = 0; j < W; ++j) mb = std::max(mb, mv[j]);
    for (; t < n; ++t) mb = std::max(mb, s[t]);
  }
  if (mb > m) {
    const float c = fast_exp(m - mb);  // m = -inf on the first block: c = 0
    l *= c;
#pragma omp simd
    for (std::size_t d = 0; d < dim; ++d) acc[d] *= c;
    m = mb;
  }
  vf sv = simd::splat(0.0f);
  std::size_t t = 0;
  for (; t + W <= n; t += W) {
    const vf e = fast_exp(simd::load(s + t) - mb);
    simd::store(s + t, e);
    sv += e;
  }
  float sum = 0.0f;
  for (std::size_t j = 0; j < W; ++j) sum += sv[j];
  for (; t < n; ++t) {
    s[t] = fast_exp(s[t] - mb);
    sum += s[t];
  }
  l += sum;
}

}  // namespace kvc::detail
