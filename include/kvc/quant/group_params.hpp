// Asymmetric min/scale parameters of one quantization group (f16 scale and min) and the
// element-wise code and dequantization rules every codec shares (host and device).
#pragma once

#include <cmath>
#include <cstdint>

#include "kvc/config.hpp"
#include "kvc/core/dtype.hpp"
#include "kvc/quant/bits.hpp"

namespace kvc::quant {

/// Largest finite f16 value.
inline constexpr float f16_max = 65504.0f;

/// The f16 value nearest to x that is <= x (x finite, clamped to the f16 range).
KVC_HOST_DEVICE inline f16 f16_round_down(float x) {
  x = fminf(fmaxf(x, -f16_max), f16_max);
  f16 h = to_f16(x);
  if (to_float(h) > x) {  // step one ulp toward -inf
    if (h.bits == 0x0000u) h.bits = 0x8001u;          // +0 -> smallest negative subnormal
    else if (h.bits & 0x8000u) h.bits += 1;            // negative: magnitude up
    else h.bits -= 1;                                  // positive: magnitude down
  }
  return h;
}

/// The f16 value nearest to x that is >= x (x finite, clamped to the f16 range).
KVC_HOST_DEVICE inline f16 f16_round_up(float x) {
  x = fminf(fmaxf(x, -f16_max), f16_max);
  f16 h = to_f16(x);
  if (to_float(h) < x) {  // step one ulp toward +inf
    if (h.bits == 0x8000u) h.bits = 0x0001u;
    else if (h.bits & 0x8000u) h.bits -= 1;
    else h.bits += 1;
  }
  return h;
}

/// Scale and min of one group, as stored (f16).
struct group_params {
  f16 scale;
  f16 min;
};

/// Parameters for a group whose values lie in [lo, hi]: min = lo rounded down to f16, scale =
/// (hi - min) / (2^bits - 1) rounded up to f16, so [min, min + (2^bits - 1) scale] covers the
/// group and every element decodes within scale / 2 of its value (plus float rounding).
/// A constant group whose min is exact gets scale 0 and decodes exactly.
KVC_HOST_DEVICE inline group_params make_group_params(float lo, float hi, int bits) {
  const f16 z = f16_round_down(lo);
  const float span = hi - to_float(z);
  const f16 s = span > 0.0f ? f16_round_up(span / float(max_code(bits))) : f16{0};
  return {s, z};
}

/// q = clamp(round_half_even((x - min) / scale), 0, 2^bits - 1); 0 when scale is 0.
/// Written without library calls so ref and fast paths vectorise to the same arithmetic.
KVC_HOST_DEVICE inline std::uint32_t quant_code(float x, float min, float scale, float maxq) {
  float y = scale > 0.0f ? (x - min) / scale : 0.0f;
  y = y > 0.0f ? y : 0.0f;  // also maps NaN to 0
  y = y < maxq ? y : maxq;
  constexpr float magic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds to nearest even
  y = (y + magic) - magic;
  return std::uint32_t(y);
}

/// x̂ = code * scale + min, one fused multiply-add (the same bits from every compiler and device).
KVC_HOST_DEVICE inline float dequant(std::uint32_t code, float scale, float min) { return fmaf(float(code), scale, min); }

}  // namespace kvc::quant
