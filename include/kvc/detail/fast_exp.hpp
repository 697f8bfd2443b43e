// Branch-free exp for float arrays that compilers vectorize (relative error below 2e-7).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "kvc/detail/simd.hpp"

namespace kvc::detail {

/// The arithmetic shared by the scalar and vector fast_exp, for x clamped to [-87.3, 88]:
/// Cody-Waite range reduction x = n ln2 + r (n returned, integral valued) and the degree-6
/// polynomial for e^r. V is float or simd::vf; the steps are the same for both.
template <class V>
inline V exp_reduced(V x, V& n) {
  constexpr float log2e = 1.44269504088896341f;
  constexpr float ln2_hi = 0.693359375f;
  constexpr float ln2_lo = -2.12194440e-4f;
  constexpr float round_shift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  n = (x * log2e + round_shift) - round_shift;
  V r = x - n * ln2_hi;
  r = r - n * ln2_lo;
  V p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r + 1.0f;
}

/// exp(x) for x <= 0 down to -inf (softmax arguments); returns 0 below about -87.3, and NaN for
/// NaN (a NaN score from non-finite keys propagates instead of reaching the integer conversion).
/// exp_reduced, then 2^n by exponent bits.
inline float fast_exp(float x) {
  const float in = x;
  const bool underflow = x < -87.3f;
  x = x >= -87.3f ? x : -87.3f;  // NaN goes to the clamp too: the conversion below stays defined
  x = x > 88.0f ? 88.0f : x;
  float n;
  const float p = exp_reduced(x, n);
  const std::int32_t bits = (std::int32_t(n) + 127) << 23;
  return in != in ? in : underflow ? 0.0f : p * std::bit_cast<float>(bits);
}

/// fast_exp on every lane of a vector: the same steps, so lanes equal the scalar results.
inline simd::vf fast_exp(simd::vf x) {
  using simd::splat;
  using simd::vf;
  typedef std::int32_t vi __attribute__((vector_size(sizeof(vf))));
  const vf in = x;
  const vi underflow = x < splat(-87.3f);
  x = x >= splat(-87.3f) ? x : splat(-87.3f);
  x = x > splat(88.0f) ? splat(88.0f) : x;
  vf n;
  const vf p = exp_reduced(x, n);
  const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  return in != in ? in : underflow ? splat(0.0f) : p * vf(bits);
}

}  // namespace kvc::detail
