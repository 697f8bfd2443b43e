// Element types (f32, bf16, f16), their names and sizes, and exact scalar conversions (host and device).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "kvc/config.hpp"
#include "kvc/core/error.hpp"

namespace kvc {

/// Storage element type of keys, values and queries.
enum class dtype : std::uint8_t { f32, bf16, f16 };

/// bfloat16 as raw bits (1 sign, 8 exponent, 7 mantissa bits).
struct bf16 {
  std::uint16_t bits;
};
/// IEEE binary16 as raw bits (1 sign, 5 exponent, 10 mantissa bits).
struct f16 {
  std::uint16_t bits;
};

/// Bytes per element of `t`.
KVC_HOST_DEVICE constexpr std::size_t dtype_size(dtype t) { return t == dtype::f32 ? 4 : 2; }

/// Lower-case name as used in policy specs: "f32", "bf16", "f16".
constexpr std::string_view dtype_name(dtype t) {
  switch (t) {
    case dtype::f32: return "f32";
    case dtype::bf16: return "bf16";
    case dtype::f16: return "f16";
  }
  return "?";
}

/// Parses "f32" | "bf16" | "f16" (also "float32", "bfloat16", "float16"); throws kvc::error
/// naming the unknown text otherwise.
inline dtype parse_dtype(std::string_view s) {
  if (s == "f32" || s == "float32" || s == "fp32") return dtype::f32;
  if (s == "bf16" || s == "bfloat16") return dtype::bf16;
  if (s == "f16" || s == "float16" || s == "fp16") return dtype::f16;
  detail::fail("unknown dtype '", s, "' (expected f32, bf16 or f16)");
}

/// The storage type for each dtype, and back.
template <class T> inline constexpr dtype dtype_of = dtype::f32;
template <> inline constexpr dtype dtype_of<bf16> = dtype::bf16;
template <> inline constexpr dtype dtype_of<f16> = dtype::f16;

// ---- conversions: round to nearest even, NaN stays NaN, Inf stays Inf ------------------------

/// bf16 -> f32 is exact.
KVC_HOST_DEVICE constexpr float to_float(bf16 x) { return detail::bit_cast<float>(std::uint32_t(x.bits) << 16); }
KVC_HOST_DEVICE constexpr float to_float(float x) { return x; }

/// f32 -> bf16, round to nearest even; NaN keeps its sign and becomes a quiet NaN.
KVC_HOST_DEVICE constexpr bf16 to_bf16(float f) {
  std::uint32_t u = detail::bit_cast<std::uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{std::uint16_t((u >> 16) | 0x0040u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{std::uint16_t(u >> 16)};
}

/// f16 -> f32 is exact (subnormals included).
KVC_HOST_DEVICE constexpr float to_float(f16 h) {
  const std::uint32_t sign = std::uint32_t(h.bits & 0x8000u) << 16;
  const std::uint32_t exp = (h.bits >> 10) & 0x1fu;
  std::uint32_t man = h.bits & 0x3ffu;
  if (exp == 0x1f) return detail::bit_cast<float>(sign | 0x7f800000u | (man << 13));  // Inf/NaN
  if (exp != 0) return detail::bit_cast<float>(sign | ((exp + 112u) << 23) | (man << 13));
  if (man == 0) return detail::bit_cast<float>(sign);  // +-0
  int e = -1;  // subnormal: normalise
  do {
    ++e;
    man <<= 1;
  } while ((man & 0x400u) == 0);
  return detail::bit_cast<float>(sign | (std::uint32_t(112 - e) << 23) | ((man & 0x3ffu) << 13));
}

/// f32 -> f16, round to nearest even, overflow to Inf, gradual underflow to subnormals.
KVC_HOST_DEVICE constexpr f16 to_f16(float f) {
  const std::uint32_t u = detail::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return f16{std::uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu))};  // NaN
  if (a >= 0x477ff000u) return f16{std::uint16_t(sign | 0x7c00u)};  // rounds to >= 65520: Inf
  if (a >= 0x38800000u) {  // normal f16 range
    const std::uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
    return f16{std::uint16_t(sign | (r >> 13))};
  }
  if (a < 0x33000000u) return f16{sign};  // below half the smallest subnormal: +-0
  // subnormal: shift the full mantissa (with implicit bit) and round to nearest even
  const std::uint32_t e = a >> 23;
  const std::uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const std::uint32_t shift = 126u - e;  // 14..24
  const std::uint32_t half = 1u << (shift - 1);
  const std::uint32_t rest = m & ((1u << shift) - 1u);
  std::uint32_t q = m >> shift;
  if (rest > half || (rest == half && (q & 1u))) ++q;
  return f16{std::uint16_t(sign | q)};
}

/// Converts a float to storage type T (identity for float).
template <class T>
KVC_HOST_DEVICE constexpr T from_float(float f) {
  if constexpr (std::is_same_v<T, bf16>) return to_bf16(f);
  else if constexpr (std::is_same_v<T, f16>) return to_f16(f);
  else return f;
}

/// Calls fn(T{}) with T the storage type of `t` (float, bf16 or f16).
template <class Fn>
decltype(auto) visit_dtype(dtype t, Fn&& fn) {
  switch (t) {
    case dtype::f32: return fn(float{});
    case dtype::bf16: return fn(bf16{});
    case dtype::f16: return fn(f16{});
  }
  detail::fail("invalid dtype value ", int(t));
}

}  // namespace kvc
