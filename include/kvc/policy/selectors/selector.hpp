// The token-selector interface of the sparse-offload policy, and the scoring helpers selectors share.
#pragma once

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kvc/core/dtype.hpp"
#include "kvc/detail/convert_row.hpp"
#include "kvc/core/accounting.hpp"
#include "kvc/tier/host_store.hpp"
#include "kvc/tier/tier_link.hpp"

namespace kvc {

/// A token selector picks, per KV head, which host-tier tokens a decode step gathers. In prose:
///
/// - `on_offload(j, k, head_stride)`: token j (host index) enters the host tier with key rows
///   k `[kv_heads, head_dim]` (head h at k + h * head_stride); keep whatever metadata scoring needs.
/// - `select(h, qsum, host, count, link, out)`: write `count` (<= host.size()) distinct host
///   indices for KV head h to out; qsum `[head_dim]` is the sum of the scaled queries of h's GQA
///   group (so a token's group score is qsum · k). Every host byte read goes through `link`.
///   Called concurrently for distinct h.
/// - `prefetch(qsum_all, host, link, device_bytes_allowed)`: at hint time, with qsum_all
///   `[kv_heads, head_dim]` from the predicted query, move what can move early; false if nothing
///   was (or could be, within the allowed device bytes) prefetched. `end_step()` drops it.
/// - `footprint()`: the selector's own metadata by tier; `clear()`.
template <class S, class T>
concept token_selector = requires(S s, const S cs, std::size_t j, const T* k, std::ptrdiff_t stride,
                                  const float* q, const detail::host_kv_store<T>& host,
                                  detail::tier_link& link, std::uint32_t* out) {
  s.on_offload(j, k, stride);
  s.select(j, q, host, j, link, out);
  { s.prefetch(q, host, link, j) } -> std::same_as<bool>;
  s.end_step();
  { cs.footprint() } -> std::same_as<memory_footprint>;
  s.clear();
};

namespace detail {

/// acc[t] += w * float(row[t]) for t < n (the inner loop of channel and page scoring).
template <class T>
inline void axpy_row(float w, const T* row, float* acc, std::size_t n) {
  if constexpr (std::is_same_v<T, float>) {
#pragma omp simd
    for (std::size_t t = 0; t < n; ++t) acc[t] += w * row[t];
  } else if constexpr (std::is_same_v<T, bf16>) {
    const auto* bits = reinterpret_cast<const std::uint16_t*>(row);
#pragma omp simd
    for (std::size_t t = 0; t < n; ++t) acc[t] += w * std::bit_cast<float>(std::uint32_t(bits[t]) << 16);
  } else {
    constexpr std::size_t tile = 256;
    float buf[tile];
    for (std::size_t t0 = 0; t0 < n; t0 += tile) {
      const std::size_t m = std::min(tile, n - t0);
      to_f32_row(row + t0, buf, m);
#pragma omp simd
      for (std::size_t t = 0; t < m; ++t) acc[t0 + t] += w * buf[t];
    }
  }
}

/// q · float(row) over n elements, in f32.
template <class T>
inline float dot_row(const float* q, const T* row, std::size_t n) {
  float s = 0.0f;
  if constexpr (std::is_same_v<T, bf16>) {
    const auto* bits = reinterpret_cast<const std::uint16_t*>(row);
#pragma omp simd reduction(+ : s)
    for (std::size_t d = 0; d < n; ++d) s += q[d] * std::bit_cast<float>(std::uint32_t(bits[d]) << 16);
  } else {
    for (std::size_t d = 0; d < n; ++d) s += q[d] * to_float(row[d]);
  }
  return s;
}

}  // namespace detail
}  // namespace kvc
