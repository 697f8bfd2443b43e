// bf16/f16 conversions: exhaustive round trips over all 65,536 bit patterns and RNE rounding.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <random>

#include "kvc/core/dtype.hpp"
#include "support/random.hpp"

using namespace kvc;

namespace {
template <class H>
H from_bits(std::uint32_t b) { return H{std::uint16_t(b)}; }

/// The correctly rounded (nearest, ties to even) conversion decided in double from the two
/// neighbouring representable values of `got`.
template <class H>
void check_nearest_even(float x) {
  const H h = from_float<H>(x);
  const float y = to_float(h);
  if (std::isinf(y)) {
    // Overflow: x must be beyond the halfway point between max finite and 2^(emax+1).
    const float max_finite = std::is_same_v<H, bf16> ? to_float(bf16{0x7f7f}) : 65504.0f;
    const double limit = std::is_same_v<H, bf16> ? (double(max_finite) + std::ldexp(1.0, 127 - 8))
                                                 : 65520.0;
    REQUIRE(std::fabs(double(x)) >= limit);
    return;
  }
  // neighbours of h in magnitude
  const std::uint16_t mag = h.bits & 0x7fff, sign = h.bits & 0x8000;
  const double err = std::fabs(double(x) - double(y));
  for (int delta : {-1, 1}) {
    if (mag == 0 && delta < 0) continue;
    const H nb{std::uint16_t(sign | (mag + delta))};
    const float z = to_float(nb);
    if (std::isinf(z) || std::isnan(z)) continue;
    const double e2 = std::fabs(double(x) - double(z));
    INFO("x=" << x << " got=" << y << " neighbour=" << z);
    REQUIRE(err <= e2);
    if (err == e2) REQUIRE((h.bits & 1) == 0);  // tie: even wins
  }
}
}  // namespace

TEST_CASE("bf16 round trip over all bit patterns keeps every value, NaN and Inf", "[dtype]") {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const bf16 h = from_bits<bf16>(b);
    const float f = to_float(h);
    const bf16 back = to_bf16(f);
    if (std::isnan(f)) {
      REQUIRE(std::isnan(to_float(back)));
      REQUIRE((back.bits & 0x8000) == (h.bits & 0x8000));
    } else {
      INFO("bits " << b);
      REQUIRE(back.bits == h.bits);
    }
  }
}

TEST_CASE("f16 round trip over all bit patterns keeps every value, NaN and Inf", "[dtype]") {
  int nans = 0;
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const f16 h = from_bits<f16>(b);
    const float f = to_float(h);
    const f16 back = to_f16(f);
    if (std::isnan(f)) {
      ++nans;
      REQUIRE(std::isnan(to_float(back)));
      REQUIRE((back.bits & 0x8000) == (h.bits & 0x8000));
    } else {
      INFO("bits " << b);
      REQUIRE(back.bits == h.bits);
    }
  }
  REQUIRE(nans == 2 * 1023);
}

TEST_CASE("f16 decoding matches the IEEE formula", "[dtype]") {
  for (std::uint32_t b = 0; b < 0x7c00; ++b) {  // finite positives
    const int e = int(b >> 10), m = int(b & 0x3ff);
    const double expect = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
    REQUIRE(double(to_float(f16{std::uint16_t(b)})) == expect);
  }
  REQUIRE(std::isinf(to_float(f16{0x7c00})));
  REQUIRE(to_float(f16{0xfc00}) < 0);
}

TEST_CASE("f32 -> bf16/f16 rounds to nearest, ties to even, on random and tie inputs", "[dtype]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    float x = std::bit_cast<float>(bits(rng));
    if (std::isnan(x)) continue;
    check_nearest_even<bf16>(x);
    // f16: scale into its range, subnormals included
    std::uniform_real_distribution<float> expo(-26.0f, 16.5f);
    const float y = std::copysign(std::exp2(expo(rng)), x);
    check_nearest_even<f16>(y);
  }
  // exact midpoints between consecutive f16 values (subnormal and normal): ties to even
  for (std::uint32_t b = 0; b + 1 < 0x7c00; b += 7) {
    const double lo = to_float(f16{std::uint16_t(b)}), hi = to_float(f16{std::uint16_t(b + 1)});
    const float mid = float((lo + hi) / 2);
    REQUIRE(double(mid) == (lo + hi) / 2);
    const f16 r = to_f16(mid);
    REQUIRE(r.bits == ((b & 1) ? b + 1 : b));
  }
  // bf16 midpoints
  for (std::uint32_t b = 0; b + 1 < 0x7f80; b += 5) {
    const float lo = to_float(bf16{std::uint16_t(b)});
    const float mid = std::bit_cast<float>(std::bit_cast<std::uint32_t>(lo) | 0x8000u);
    REQUIRE(to_bf16(mid).bits == ((b & 1) ? b + 1 : b));
  }
}

TEST_CASE("dtype names parse and unknown names are rejected with the name", "[dtype]") {
  REQUIRE(parse_dtype("bf16") == dtype::bf16);
  REQUIRE(parse_dtype("f16") == dtype::f16);
  REQUIRE(parse_dtype("f32") == dtype::f32);
  REQUIRE(dtype_size(dtype::bf16) == 2);
  REQUIRE_THROWS_WITH(parse_dtype("int3"), Catch::Contains("int3"));
}
