// Portable SIMD vocabulary of the CPU kernels: native-width f32 vectors, typed pair loads, sums.
//
// Vectors are GCC/Clang vector extensions, so the kernels are written once and lower to
// AVX-512 (16 lanes), AVX/AVX2 (8 lanes) or SSE/NEON (4 lanes) with the build flags. The few
// operations the extensions cannot express well (f16 widening, lane sums) use intrinsics where
// the build has them and a plain loop otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kvc/core/dtype.hpp"

#if defined(__AVX__) || defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

// GCC 12 reports false "maybe uninitialized" warnings inside its own AVX-512 intrinsic headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace kvc::detail::simd {

/// f32 lanes per native vector.
#if defined(__AVX512F__)
inline constexpr std::size_t width = 16;
#elif defined(__AVX__)
inline constexpr std::size_t width = 8;
#else
inline constexpr std::size_t width = 4;
#endif

/// Vector registers of the instruction set (AVX-512 has 32; AVX2, SSE and NEON builds count 16):
/// the budget a kernel's register tiles are sized to.
inline constexpr std::size_t registers = width >= 16 ? 32 : 16;

typedef float vf __attribute__((vector_size(4 * width)));           // f32 lanes
typedef std::uint32_t vu __attribute__((vector_size(4 * width)));   // u32 lanes

/// Elements of one "pair": two vectors' worth, the unit every typed load produces.
inline constexpr std::size_t pair = 2 * width;

inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof(v)); }
/// Every lane = x: one broadcast. (Not `vf{} + x`: adding +0 is no identity for -0, so the add
/// stays; nor a lane loop, which GCC 12 may build lane by lane.)
inline vf splat(float x) {
#if defined(__AVX512F__)
  return _mm512_set1_ps(x);
#elif defined(__AVX__)
  return _mm256_set1_ps(x);
#else
  vf v;
  for (std::size_t i = 0; i < width; ++i) v[i] = x;
  return v;
#endif
}

/// The 2 * width elements of T at p as two f32 vectors (lo, hi), lanes in `slot` order below.
/// bf16 widens by shifting each 32-bit word: lo holds the even elements, hi the odd ones, with
/// no shuffle. f32 and f16 keep natural order (lo = first half).
template <class T>
inline void load_pair(const T* p, vf& lo, vf& hi) {
  if constexpr (std::is_same_v<T, float>) {
    lo = load(p);
    hi = load(p + width);
  } else if constexpr (std::is_same_v<T, bf16>) {
    vu w;
    std::memcpy(&w, p, sizeof(w));
    const vu l = w << 16, h = w & 0xFFFF0000u;
    std::memcpy(&lo, &l, sizeof(lo));
    std::memcpy(&hi, &h, sizeof(hi));
  } else {
#if defined(__AVX512F__)
    lo = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    hi = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + width)));
#elif defined(__F16C__) && defined(__AVX__)
    lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + width)));
#else
    for (std::size_t i = 0; i < width; ++i) {
      lo[i] = to_float(p[i]);
      hi[i] = to_float(p[width + i]);
    }
#endif
  }
}

/// Where element e (< pair) of a pair load lands in the concatenation [lo, hi].
template <class T>
constexpr std::size_t slot(std::size_t e) {
  if constexpr (std::is_same_v<T, bf16>) return e % 2 == 0 ? e / 2 : width + e / 2;
  return e;
}

/// dst[slot(e) of each pair] = src[e] for a row of n elements (n a multiple of `pair`): puts an
/// f32 row into the lane order that load_pair<T> gives the stored rows.
template <class T>
inline void to_slots(const float* src, float* dst, std::size_t n) {
  for (std::size_t c = 0; c < n; c += pair)
    for (std::size_t e = 0; e < pair; ++e) dst[c + slot<T>(e)] = src[c + e];
}

/// The inverse of to_slots.
template <class T>
inline void from_slots(const float* src, float* dst, std::size_t n) {
  for (std::size_t c = 0; c < n; c += pair)
    for (std::size_t e = 0; e < pair; ++e) dst[c + e] = src[c + slot<T>(e)];
}

/// Asks for the `bytes` at p to be brought into the cache (a hint: never faults).
inline void prefetch(const void* p, std::size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(c + b, 0, 1);
}

/// out[i] = sum of the lanes of a[i] for i < 8.
inline void sum_lanes8(const vf (&a)[8], float* out) {
#if defined(__AVX__)
  __m256 h[8];
  for (int i = 0; i < 8; ++i) {
#if defined(__AVX512F__)
    const __m512 z = a[i];
    h[i] = _mm256_add_ps(_mm512_castps512_ps256(z),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(z), 1)));
#else
    h[i] = a[i];
#endif
  }
  // hadd twice: lane j of each 128-bit half sums a quarter of vector j; the halves then add.
  const __m256 h01 = _mm256_hadd_ps(h[0], h[1]), h23 = _mm256_hadd_ps(h[2], h[3]);
  const __m256 h45 = _mm256_hadd_ps(h[4], h[5]), h67 = _mm256_hadd_ps(h[6], h[7]);
  const __m256 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
  const __m256 lo = _mm256_permute2f128_ps(q0, q1, 0x20), hi = _mm256_permute2f128_ps(q0, q1, 0x31);
  _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
#else
  for (int i = 0; i < 8; ++i) {
    float s = 0.0f;
    for (std::size_t j = 0; j < width; ++j) s += a[i][j];
    out[i] = s;
  }
#endif
}

}  // namespace kvc::detail::simd

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
