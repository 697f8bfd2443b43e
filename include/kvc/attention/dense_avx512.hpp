// AVX-512 fast path of the dense attention kernel (keys and values converted in registers).
#pragma once

#if defined(__AVX512F__)

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "kvc/core/dtype.hpp"

// GCC 12 reports false "maybe uninitialized" warnings inside its own AVX-512 intrinsic headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace kvc::detail::avx512 {

/// 16 elements of T at p as f32.
template <class T>
inline __m512 load16(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_loadu_ps(p);
  } else if constexpr (std::is_same_v<T, bf16>) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  } else {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
}

/// Rows ahead of the current one that the kernels prefetch (keeps many loads in flight).
inline constexpr std::ptrdiff_t prefetch_rows = 6;

/// Prefetches the row `prefetch_rows` ahead of `row` (row_bytes long) into L1.
inline void prefetch_ahead(const void* row, std::ptrdiff_t stride_bytes, std::size_t row_bytes) {
  const char* p = static_cast<const char*>(row) + prefetch_rows * stride_bytes;
  for (std::size_t b = 0; b < row_bytes; b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
}

/// Horizontal sums of four vectors: lanes 0..3 of the result are sum(a), sum(b), sum(c), sum(d).
inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512 abcd = _mm512_add_ps(
      _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))),
      _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))));
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(abcd),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/// Scores of every head of the group: each key row is converted once into registers, then
/// dotted with the group's query rows (memory operands), four heads reduced together.
template <class T, std::size_t Chunks>
inline void scores_fixed(const float* q, std::size_t group, const T* k, std::ptrdiff_t k_stride,
                         std::size_t tokens, float* s, std::size_t stride) {
  constexpr std::size_t dim = Chunks * 16;
  for (std::size_t t = 0; t < tokens; ++t) {
    const T* kr = k + std::ptrdiff_t(t) * k_stride;
    if (t + prefetch_rows < tokens) prefetch_ahead(kr, k_stride * std::ptrdiff_t(sizeof(T)), dim * sizeof(T));
    __m512 kc[Chunks];
    for (std::size_t c = 0; c < Chunks; ++c) kc[c] = load16(kr + c * 16);
    std::size_t g = 0;
    for (; g + 4 <= group; g += 4) {
      __m512 a[4];
      for (std::size_t h = 0; h < 4; ++h) {
        const float* qh = q + (g + h) * dim;
        __m512 x = _mm512_mul_ps(_mm512_loadu_ps(qh), kc[0]);
        for (std::size_t c = 1; c < Chunks; ++c) x = _mm512_fmadd_ps(_mm512_loadu_ps(qh + c * 16), kc[c], x);
        a[h] = x;
      }
      alignas(16) float r[4];
      _mm_store_ps(r, reduce4(a[0], a[1], a[2], a[3]));
      for (std::size_t h = 0; h < 4; ++h) s[(g + h) * stride + t] = r[h];
    }
    for (; g < group; ++g) {
      const float* qh = q + g * dim;
      __m512 x = _mm512_mul_ps(_mm512_loadu_ps(qh), kc[0]);
      for (std::size_t c = 1; c < Chunks; ++c) x = _mm512_fmadd_ps(_mm512_loadu_ps(qh + c * 16), kc[c], x);
      s[g * stride + t] = _mm512_reduce_add_ps(x);
    }
  }
}

/// s[g * stride + t] = q_g · k_t for g < group, t < tokens; dim a multiple of 16.
/// q [group, dim]; k rows `k_stride` elements apart.
template <class T>
inline void scores(const float* q, std::size_t group, std::size_t dim, const T* k,
                   std::ptrdiff_t k_stride, std::size_t tokens, float* s, std::size_t stride) {
  switch (dim) {
    case 64: return scores_fixed<T, 4>(q, group, k, k_stride, tokens, s, stride);
    case 128: return scores_fixed<T, 8>(q, group, k, k_stride, tokens, s, stride);
    case 256: return scores_fixed<T, 16>(q, group, k, k_stride, tokens, s, stride);
    default: break;
  }
  for (std::size_t t = 0; t < tokens; ++t) {
    const T* kr = k + std::ptrdiff_t(t) * k_stride;
    for (std::size_t g = 0; g < group; ++g) {
      __m512 a = _mm512_setzero_ps();
      for (std::size_t c = 0; c < dim; c += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(q + g * dim + c), load16(kr + c), a);
      s[g * stride + t] = _mm512_reduce_add_ps(a);
    }
  }
}

/// acc[g] += Σ_t p[g * stride + t] · v_t for g0 <= g < g0 + H over chunks [c0, c0 + P) of the
/// row: H × P accumulators stay in registers while value rows stream by.
template <class T, std::size_t Chunks, std::size_t H, std::size_t P>
inline void accumulate_tile(const float* p, std::size_t stride, std::size_t g0, std::size_t c0,
                            const T* v, std::ptrdiff_t v_stride, std::size_t tokens, float* acc) {
  constexpr std::size_t dim = Chunks * 16;
  __m512 a[H][P];
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t c = 0; c < P; ++c) a[h][c] = _mm512_loadu_ps(acc + (g0 + h) * dim + (c0 + c) * 16);
  for (std::size_t t = 0; t < tokens; ++t) {
    const T* vr = v + std::ptrdiff_t(t) * v_stride + c0 * 16;
    if (c0 == 0 && t + prefetch_rows < tokens)
      prefetch_ahead(vr, v_stride * std::ptrdiff_t(sizeof(T)), dim * sizeof(T));
    __m512 w[H];
    for (std::size_t h = 0; h < H; ++h) w[h] = _mm512_set1_ps(p[(g0 + h) * stride + t]);
    for (std::size_t c = 0; c < P; ++c) {
      const __m512 vv = load16(vr + c * 16);
      for (std::size_t h = 0; h < H; ++h) a[h][c] = _mm512_fmadd_ps(w[h], vv, a[h][c]);
    }
  }
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t c = 0; c < P; ++c) _mm512_storeu_ps(acc + (g0 + h) * dim + (c0 + c) * 16, a[h][c]);
}

/// acc[g] += Σ_t p[g * stride + t] · v_t for g < group; acc [group, Chunks * 16]. Four heads
/// share each converted value chunk; tiles of 4 heads × 4 chunks keep 16 accumulators live.
template <class T, std::size_t Chunks>
inline void accumulate_fixed(const float* p, std::size_t stride, std::size_t group, const T* v,
                             std::ptrdiff_t v_stride, std::size_t tokens, float* acc) {
  static_assert(Chunks % 4 == 0, "dim must be a multiple of 64");
  std::size_t g = 0;
  for (; g + 4 <= group; g += 4)
    for (std::size_t c0 = 0; c0 < Chunks; c0 += 4)
      accumulate_tile<T, Chunks, 4, 4>(p, stride, g, c0, v, v_stride, tokens, acc);
  for (; g < group; ++g)
    for (std::size_t c0 = 0; c0 < Chunks; c0 += 4)
      accumulate_tile<T, Chunks, 1, 4>(p, stride, g, c0, v, v_stride, tokens, acc);
}

/// acc[g] += Σ_t p[g * stride + t] · v_t for g < group; acc [group, dim], dim a multiple of 16.
template <class T>
inline void accumulate(const float* p, std::size_t stride, std::size_t group, std::size_t dim,
                       const T* v, std::ptrdiff_t v_stride, std::size_t tokens, float* acc) {
  switch (dim) {
    case 64: return accumulate_fixed<T, 4>(p, stride, group, v, v_stride, tokens, acc);
    case 128: return accumulate_fixed<T, 8>(p, stride, group, v, v_stride, tokens, acc);
    case 256: return accumulate_fixed<T, 16>(p, stride, group, v, v_stride, tokens, acc);
    default: break;
  }
  for (std::size_t g = 0; g < group; ++g) {
    for (std::size_t c = 0; c < dim; c += 16) {
      __m512 a = _mm512_loadu_ps(acc + g * dim + c);
      for (std::size_t t = 0; t < tokens; ++t)
        a = _mm512_fmadd_ps(_mm512_set1_ps(p[g * stride + t]), load16(v + std::ptrdiff_t(t) * v_stride + c), a);
      _mm512_storeu_ps(acc + g * dim + c, a);
    }
  }
}

}  // namespace kvc::detail::avx512

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // __AVX512F__
