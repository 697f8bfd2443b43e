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

/// s[(g0 + h) * stride + t] = q_{g0+h} · k_t for h < H, with the H query rows in registers
/// while key rows stream by once.
template <class T, std::size_t Chunks, std::size_t H>
inline void scores_heads(const float* q, std::size_t g0, const T* k, std::ptrdiff_t k_stride,
                         std::size_t tokens, float* s, std::size_t stride) {
  constexpr std::size_t dim = Chunks * 16;
  __m512 qr[H][Chunks];
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t c = 0; c < Chunks; ++c) qr[h][c] = _mm512_loadu_ps(q + (g0 + h) * dim + c * 16);
  for (std::size_t t = 0; t < tokens; ++t) {
    const T* kr = k + std::ptrdiff_t(t) * k_stride;
    __m512 a[H][2];
    for (std::size_t h = 0; h < H; ++h) a[h][0] = a[h][1] = _mm512_setzero_ps();
    for (std::size_t c = 0; c < Chunks; ++c) {
      const __m512 kv = load16(kr + c * 16);
      for (std::size_t h = 0; h < H; ++h) a[h][c & 1] = _mm512_fmadd_ps(qr[h][c], kv, a[h][c & 1]);
    }
    for (std::size_t h = 0; h < H; ++h)
      s[(g0 + h) * stride + t] = _mm512_reduce_add_ps(_mm512_add_ps(a[h][0], a[h][1]));
  }
}

/// Scores for every head of the group, pairs of heads per pass.
template <class T, std::size_t Chunks>
inline void scores_fixed(const float* q, std::size_t group, const T* k, std::ptrdiff_t k_stride,
                         std::size_t tokens, float* s, std::size_t stride) {
  constexpr std::size_t pair = Chunks <= 8 ? 2 : 1;
  std::size_t g = 0;
  for (; g + pair <= group; g += pair) scores_heads<T, Chunks, pair>(q, g, k, k_stride, tokens, s, stride);
  for (; g < group; ++g) scores_heads<T, Chunks, 1>(q, g, k, k_stride, tokens, s, stride);
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

/// acc[g] += Σ_t p[g * stride + t] · v_t for g0 <= g < g0 + H, with the whole output row of
/// each head (Chunks × 16 floats) in registers while value rows stream by once.
template <class T, std::size_t Chunks, std::size_t H>
inline void accumulate_heads(const float* p, std::size_t stride, std::size_t g0, const T* v,
                             std::ptrdiff_t v_stride, std::size_t tokens, float* acc) {
  constexpr std::size_t dim = Chunks * 16;
  __m512 a[H][Chunks];
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t c = 0; c < Chunks; ++c) a[h][c] = _mm512_loadu_ps(acc + (g0 + h) * dim + c * 16);
  for (std::size_t t = 0; t < tokens; ++t) {
    const T* vr = v + std::ptrdiff_t(t) * v_stride;
    __m512 w[H];
    for (std::size_t h = 0; h < H; ++h) w[h] = _mm512_set1_ps(p[(g0 + h) * stride + t]);
    for (std::size_t c = 0; c < Chunks; ++c) {
      const __m512 vv = load16(vr + c * 16);
      for (std::size_t h = 0; h < H; ++h) a[h][c] = _mm512_fmadd_ps(w[h], vv, a[h][c]);
    }
  }
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t c = 0; c < Chunks; ++c) _mm512_storeu_ps(acc + (g0 + h) * dim + c * 16, a[h][c]);
}

/// acc[g] += Σ_t p[g * stride + t] · v_t for g < group; acc [group, Chunks * 16].
template <class T, std::size_t Chunks>
inline void accumulate_fixed(const float* p, std::size_t stride, std::size_t group, const T* v,
                             std::ptrdiff_t v_stride, std::size_t tokens, float* acc) {
  constexpr std::size_t pair = Chunks <= 8 ? 2 : 1;
  std::size_t g = 0;
  for (; g + pair <= group; g += pair) accumulate_heads<T, Chunks, pair>(p, stride, g, v, v_stride, tokens, acc);
  for (; g < group; ++g) accumulate_heads<T, Chunks, 1>(p, stride, g, v, v_stride, tokens, acc);
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
