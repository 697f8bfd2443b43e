// Row conversion between storage types (float, bf16, f16) and f32, vectorised where possible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kvc/core/dtype.hpp"

#if defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

// GCC 12 reports a false "maybe uninitialized" inside _mm512_cvtph_ps's own header code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace kvc::detail {

/// dst[i] = float(src[i]) for i < n.
template <class T>
inline void to_f32_row(const T* src, float* dst, std::size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    std::memcpy(dst, src, n * sizeof(float));
  } else if constexpr (std::is_same_v<T, bf16>) {
    const auto* s = reinterpret_cast<const std::uint16_t*>(src);
    auto* d = reinterpret_cast<std::uint32_t*>(dst);
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) d[i] = std::uint32_t(s[i]) << 16;
  } else {
    std::size_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16)
      _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(
                                    reinterpret_cast<const __m256i*>(src + i))));
#elif defined(__F16C__)
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(
                                    reinterpret_cast<const __m128i*>(src + i))));
#endif
    for (; i < n; ++i) dst[i] = to_float(src[i]);
  }
}

/// dst[i] = T(src[i]) for i < n, rounding to nearest even.
template <class T>
inline void from_f32_row(const float* src, T* dst, std::size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    std::memcpy(dst, src, n * sizeof(float));
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i] = from_float<T>(src[i]);
  }
}

/// dst[i] = T(src[i]) for i < n between any two storage types: a copy when S is T, else through
/// f32 in `tmp` [n] (exact widening, then round to nearest even).
template <class S, class T>
inline void convert_row(const S* src, T* dst, float* tmp, std::size_t n) {
  if constexpr (std::is_same_v<S, T>) {
    std::memcpy(dst, src, n * sizeof(T));
  } else {
    to_f32_row(src, tmp, n);
    from_f32_row(tmp, dst, n);
  }
}

/// dst[i] = float(src[i]) for any runtime dtype.
inline void to_f32_row(const void* src, dtype type, float* dst, std::size_t n) {
  visit_dtype(type, [&](auto tag) {
    using T = decltype(tag);
    to_f32_row(static_cast<const T*>(src), dst, n);
  });
}

}  // namespace kvc::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
