// Top-k selection of scored items in O(n): a bucket histogram over the score range, then a small nth_element.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace kvc::detail {

/// Scratch of top_k_indices, reused across calls.
struct top_k_scratch {
  std::vector<std::uint32_t> buckets;
  std::vector<std::uint64_t> candidates;
};

/// An unsigned key with the order of the float (NaN lowest).
inline std::uint32_t order_key(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0;  // NaN
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/// Writes to out[0..k) the indices of the k largest of scores[0..n) (k <= n), in no particular
/// order; among equal scores the lower index wins, NaN ranks lowest.
///
/// O(n): each score gets a bucket by a monotone map (linear over [min, max] when both are
/// finite, else the top 12 bits of its order key); a histogram finds the bucket holding the k-th
/// largest; one pass takes every item above it and collects that bucket's items, and
/// nth_element on (order key, index) picks among those few.
inline void top_k_indices(const float* scores, std::size_t n, std::size_t k, top_k_scratch& scratch,
                          std::uint32_t* out) {
  if (k == 0) return;
  if (k >= n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = std::uint32_t(i);
    return;
  }
  constexpr std::size_t nb = 4096;
  auto& bucket = scratch.buckets;
  bucket.resize(n);
  float lo = INFINITY, hi = -INFINITY;
#pragma omp simd reduction(min : lo) reduction(max : hi)
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, scores[i]);  // NaN never wins a comparison
    hi = std::max(hi, scores[i]);
  }
  if (std::isfinite(lo) && std::isfinite(hi) && hi > lo && std::isfinite(hi - lo)) {
    const float scale = float(nb - 1) / (hi - lo);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const float s = scores[i];
      const float x = s == s ? (s - lo) * scale : 0.0f;  // NaN -> lowest bucket
      bucket[i] = std::min(std::uint32_t(nb - 1), std::uint32_t(std::max(x, 0.0f)));
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) bucket[i] = order_key(scores[i]) >> 20;
  }
  // four interleaved histograms, so crowded buckets do not serialise on one counter
  std::vector<std::uint32_t> part(4 * nb, 0u);
  std::size_t i4 = 0;
  for (; i4 + 4 <= n; i4 += 4)
    for (std::size_t r = 0; r < 4; ++r) ++part[r * nb + bucket[i4 + r]];
  for (; i4 < n; ++i4) ++part[bucket[i4]];
  std::size_t above = 0, b = nb;
  while (b-- > 0) {
    const std::size_t h = part[b] + part[nb + b] + part[2 * nb + b] + part[3 * nb + b];
    if (above + h >= k) break;
    above += h;
  }
  auto& cand = scratch.candidates;
  cand.clear();
  std::size_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (bucket[i] > b) out[m++] = std::uint32_t(i);
    else if (bucket[i] == b)
      cand.push_back((std::uint64_t(order_key(scores[i])) << 32) | (0xffffffffu - std::uint32_t(i)));
  }
  const std::size_t need = k - above;  // 1..cand.size()
  if (need < cand.size())
    std::nth_element(cand.begin(), cand.begin() + std::ptrdiff_t(need - 1), cand.end(), std::greater<std::uint64_t>());
  for (std::size_t i = 0; i < need; ++i) out[m++] = 0xffffffffu - std::uint32_t(cand[i] & 0xffffffffu);
}

}  // namespace kvc::detail
