// Quantization codecs: round-trip error bound per bit width and group size, fast paths equal to
// the scalar references bit for bit, the layout's slot mapping, and the Hadamard rotation.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kvc/quant/codec.hpp"
#include "kvc/quant/codec_ref.hpp"
#include "kvc/quant/hadamard.hpp"
#include "kvc/quant/layout.hpp"
#include "quant_tolerances.hpp"
#include "support/random.hpp"

using namespace kvc;
using quant::block_layout;

namespace {

// x [tokens, dim]: normal values with a random offset and spread per channel (outlier channels
// as real keys have), so groups differ in range.
std::vector<float> structured(std::mt19937_64& rng, std::size_t tokens, std::size_t dim) {
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::uniform_real_distribution<float> spread(0.05f, 8.0f);
  std::vector<float> off(dim), sd(dim), x(tokens * dim);
  for (std::size_t c = 0; c < dim; ++c) off[c] = 3.0f * n01(rng), sd[c] = spread(rng);
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t c = 0; c < dim; ++c) x[t * dim + c] = off[c] + sd[c] * n01(rng);
  return x;
}

struct key_block {
  std::vector<std::uint8_t> codes;
  std::vector<f16> scales, mins;
  explicit key_block(const block_layout& L) : codes(L.key_code_bytes()), scales(L.head_dim), mins(L.head_dim) {}
};
struct value_rows {
  std::vector<std::uint8_t> codes;
  std::vector<f16> scales, mins;
  value_rows(const block_layout& L, std::size_t tokens)
      : codes(tokens * L.value_row_bytes()), scales(tokens * L.value_groups()), mins(tokens * L.value_groups()) {}
};

bool same_bits(const std::vector<f16>& a, const std::vector<f16>& b) {
  return std::memcmp(a.data(), b.data(), a.size() * sizeof(f16)) == 0;
}

}  // namespace

TEST_CASE("round trip error is at most scale / 2 for every bit width and group size", "[quant]") {
  const int bits = GENERATE(1, 2, 4, 8);
  const std::size_t group = GENERATE(8, 16, 32, 64, 128);
  const auto seed = test::fresh_seed();
  INFO("seed " << seed << ", bits " << bits << ", group " << group);
  std::mt19937_64 rng(seed);
  const block_layout L{bits, bits, group, 128, 1};
  const double maxq = double(quant::max_code(bits));

  SECTION("keys, per channel over the block's tokens") {
    const auto x = structured(rng, group, 128);
    key_block kb(L);
    quant::encode_key_block_ref(x.data(), L, kb.codes.data(), kb.scales.data(), kb.mins.data());
    std::vector<float> y(x.size());
    quant::decode_key_block_ref(kb.codes.data(), kb.scales.data(), kb.mins.data(), L, y.data());
    double worst = 0;
    for (std::size_t t = 0; t < group; ++t)
      for (std::size_t c = 0; c < 128; ++c) {
        const double s = to_float(kb.scales[c]), z = to_float(kb.mins[c]);
        REQUIRE(s > 0);
        const double bound = s / 2 + test::quant_roundtrip_float_rel * (std::abs(x[t * 128 + c]) + std::abs(z) + maxq * s);
        const double err = std::abs(double(y[t * 128 + c]) - x[t * 128 + c]);
        worst = std::max(worst, err / bound);
        REQUIRE(err <= bound);
      }
    // the bound is tight: some element gets close to half a step (a loose codec would pass too
    // easily otherwise; a broken one fails above)
    CHECK(worst > 0.5);
  }
  SECTION("values, per token over groups of channels") {
    const std::size_t tokens = 37;
    const auto x = structured(rng, tokens, 128);
    value_rows vr(L, tokens);
    quant::encode_value_rows_ref(x.data(), tokens, L, vr.codes.data(), vr.scales.data(), vr.mins.data());
    std::vector<float> y(x.size());
    quant::decode_value_rows_ref(vr.codes.data(), vr.scales.data(), vr.mins.data(), tokens, L, y.data());
    for (std::size_t t = 0; t < tokens; ++t)
      for (std::size_t c = 0; c < 128; ++c) {
        const std::size_t g = t * L.value_groups() + c / group;
        const double s = to_float(vr.scales[g]), z = to_float(vr.mins[g]);
        const double bound = s / 2 + test::quant_roundtrip_float_rel * (std::abs(x[t * 128 + c]) + std::abs(z) + maxq * s);
        REQUIRE(std::abs(double(y[t * 128 + c]) - x[t * 128 + c]) <= bound);
      }
  }
}

TEST_CASE("fast codecs equal the references bit for bit", "[quant]") {
  const int kbits = GENERATE(1, 2, 4, 8);
  const int vbits = GENERATE(1, 2, 4, 8);
  const std::size_t group = GENERATE(8, 32, 64);
  const std::size_t dim = GENERATE(64, 128);
  const auto seed = test::fresh_seed();
  INFO("seed " << seed << ", k " << kbits << ", v " << vbits << ", group " << group << ", dim " << dim);
  std::mt19937_64 rng(seed);
  const block_layout L{kbits, vbits, group, dim, 1};

  const auto xk = structured(rng, group, dim);
  key_block ref(L), fast(L);
  quant::encode_key_block_ref(xk.data(), L, ref.codes.data(), ref.scales.data(), ref.mins.data());
  quant::encode_key_block(xk.data(), L, fast.codes.data(), fast.scales.data(), fast.mins.data());
  REQUIRE(ref.codes == fast.codes);
  REQUIRE(same_bits(ref.scales, fast.scales));
  REQUIRE(same_bits(ref.mins, fast.mins));
  std::vector<float> yr(xk.size()), yf(xk.size());
  quant::decode_key_block_ref(ref.codes.data(), ref.scales.data(), ref.mins.data(), L, yr.data());
  quant::decode_key_block(ref.codes.data(), ref.scales.data(), ref.mins.data(), L, yf.data());
  for (std::size_t i = 0; i < yr.size(); ++i)
    REQUIRE(std::abs(yr[i] - yf[i]) <= test::quant_decode_fast_rel * (std::abs(yr[i]) + 1.0));

  const std::size_t tokens = 19;
  const auto xv = structured(rng, tokens, dim);
  value_rows vref(L, tokens), vfast(L, tokens);
  quant::encode_value_rows_ref(xv.data(), tokens, L, vref.codes.data(), vref.scales.data(), vref.mins.data());
  quant::encode_value_rows(xv.data(), tokens, L, vfast.codes.data(), vfast.scales.data(), vfast.mins.data());
  REQUIRE(vref.codes == vfast.codes);
  REQUIRE(same_bits(vref.scales, vfast.scales));
  REQUIRE(same_bits(vref.mins, vfast.mins));
  std::vector<float> vr(xv.size()), vf(xv.size());
  quant::decode_value_rows_ref(vref.codes.data(), vref.scales.data(), vref.mins.data(), tokens, L, vr.data());
  quant::decode_value_rows(vref.codes.data(), vref.scales.data(), vref.mins.data(), tokens, L, vf.data());
  for (std::size_t i = 0; i < vr.size(); ++i)
    REQUIRE(std::abs(vr[i] - vf[i]) <= test::quant_decode_fast_rel * (std::abs(vr[i]) + 1.0));
}

TEST_CASE("codes are packed LSB-first, lane-interleaved along the row", "[quant]") {
  // 2-bit values, one group of 16 channels: row of 4 bytes; channel c in byte c % 4 at bit 2 (c / 4).
  const block_layout L{2, 2, 16, 16, 1};
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> code(0, 3);
  std::vector<int> want(16);
  std::vector<float> x(16);
  for (std::size_t c = 0; c < 16; ++c) x[c] = float(want[c] = code(rng));
  x[0] = 0.0f, x[1] = 3.0f, want[0] = 0, want[1] = 3;  // pin the range so codes equal the values
  value_rows vr(L, 1);
  quant::encode_value_rows(x.data(), 1, L, vr.codes.data(), vr.scales.data(), vr.mins.data());
  REQUIRE(to_float(vr.scales[0]) == 1.0f);
  REQUIRE(to_float(vr.mins[0]) == 0.0f);
  for (std::size_t c = 0; c < 16; ++c) REQUIRE(((vr.codes[c % 4] >> (2 * (c / 4))) & 3) == want[c]);
}

TEST_CASE("a constant group gets scale 0 and decodes exactly", "[quant]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const int bits = GENERATE(1, 2, 4, 8);
  const block_layout L{bits, bits, 32, 64, 1};
  std::uniform_int_distribution<int> small(-1000, 1000);
  const float c = float(small(rng)) / 8.0f;  // exact in f16
  std::vector<float> x(32 * 64, c);
  key_block kb(L);
  quant::encode_key_block(x.data(), L, kb.codes.data(), kb.scales.data(), kb.mins.data());
  std::vector<float> y(x.size());
  quant::decode_key_block_ref(kb.codes.data(), kb.scales.data(), kb.mins.data(), L, y.data());
  REQUIRE(to_float(kb.scales[0]) == 0.0f);
  REQUIRE(y == x);
}

TEST_CASE("Hadamard rotation is orthonormal and its own inverse", "[quant]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const std::size_t n = GENERATE(8, 64, 128);
  auto a = test::random_values<float>(rng, n), b = test::random_values<float>(rng, n);
  auto ra = a, rb = b;
  quant::hadamard_rotate(ra.data(), n);
  quant::hadamard_rotate(rb.data(), n);
  double dot = 0, rdot = 0, norm = 0;
  for (std::size_t i = 0; i < n; ++i) dot += double(a[i]) * b[i], rdot += double(ra[i]) * rb[i], norm += double(a[i]) * a[i];
  REQUIRE(std::abs(dot - rdot) <= test::hadamard_rel * norm);
  REQUIRE(ra != a);
  quant::hadamard_rotate(ra.data(), n);
  for (std::size_t i = 0; i < n; ++i) REQUIRE(std::abs(ra[i] - a[i]) <= test::hadamard_rel * (std::abs(a[i]) + 1.0));
  REQUIRE_FALSE(quant::is_power_of_two(96));
}
