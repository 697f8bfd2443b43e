// CPU fast attention vs the f64 oracle: GQA 1-8, head_dim 40-128 (SIMD and plain paths), odd lengths, f32/bf16/f16.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <span>
#include <vector>

#include "kvc/attention/reference.hpp"
#include "kvc/detail/fast_exp.hpp"
#include "kvc/detail/simd.hpp"
#include "kvc/policy/full.hpp"
#include "support/compare.hpp"
#include "support/random.hpp"
#include "support/tolerances.hpp"

using namespace kvc;

namespace {

/// Runs a full_cache<T>: `past` tokens appended, then `n` new tokens through append_and_attend,
/// and compares the output with the oracle over the same stored values.
template <class T>
double fast_vs_oracle(const layer_shape& shape, std::size_t past, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::size_t hq = shape.q_heads, hk = shape.kv_heads, d = shape.head_dim, total = past + n;
  const auto q = test::random_values<T>(rng, n * hq * d);
  const auto k = test::random_values<T>(rng, total * hk * d, 1.5f);
  const auto v = test::random_values<T>(rng, total * hk * d);
  full_cache<T> cache(shape, {dtype_of<T>, 16});  // small pages: many segments
  const tensor_view<const T, 3> kall(k.data(), {total, hk, d}), vall(v.data(), {total, hk, d});
  if (past > 0)
    cache.append(tensor_view<const T, 3>(k.data(), {past, hk, d}), tensor_view<const T, 3>(v.data(), {past, hk, d}));
  std::vector<float> out(n * hq * d);
  cache.append_and_attend(tensor_view<const T, 3>(q.data(), {n, hq, d}),
                          tensor_view<const T, 3>(k.data() + past * hk * d, {n, hk, d}),
                          tensor_view<const T, 3>(v.data() + past * hk * d, {n, hk, d}),
                          tensor_view<float, 3>(out.data(), {n, hq, d}));
  REQUIRE(cache.size() == total);
  const auto exact = attention_reference(tensor_view<const T, 3>(q.data(), {n, hq, d}), kall, vall, shape, past);
  return test::relative_error(std::span<const float>(out), std::span<const double>(exact));
}

}  // namespace

TEST_CASE("fast exp matches std::exp over the softmax range", "[attention]") {
  double worst = 0;
  for (float x = -87.0f; x <= 0.0f; x += 0.00731f) {
    const double e = std::exp(double(x));
    worst = std::max(worst, std::fabs(double(detail::fast_exp(x)) - e) / e);
  }
  REQUIRE(worst <= test::fast_exp_rel);
  REQUIRE(detail::fast_exp(-200.0f) == 0.0f);
  REQUIRE(detail::fast_exp(-INFINITY) == 0.0f);
  REQUIRE(detail::fast_exp(0.0f) == 1.0f);
  // a NaN score (keys of inf or NaN) stays NaN, in both forms, and never reaches the integer
  // conversion (undefined there)
  REQUIRE(std::isnan(detail::fast_exp(NAN)));
  float in[detail::simd::width], out[detail::simd::width];
  for (auto& x : in) x = -1.0f;
  in[1] = NAN;
  detail::simd::store(out, detail::fast_exp(detail::simd::load(in)));
  REQUIRE(std::isnan(out[1]));
  REQUIRE(out[0] == detail::fast_exp(-1.0f));
}

TEST_CASE("vector fast exp equals the scalar one lane for lane", "[attention]") {
  constexpr std::size_t W = detail::simd::width;
  std::size_t mismatches = 0, checked = 0;
  for (float x0 = -100.0f; x0 <= 0.0f; x0 += 0.0371f * float(W)) {
    float in[W], out[W];
    for (std::size_t i = 0; i < W; ++i) in[i] = x0 + 0.0371f * float(i);
    in[0] = x0 < -99.9f ? -INFINITY : in[0];
    detail::simd::store(out, detail::fast_exp(detail::simd::load(in)));
    for (std::size_t i = 0; i < W; ++i, ++checked) {
      const float s = detail::fast_exp(in[i]);
      // both contract the same expressions into FMAs, but allow one ulp for a compiler that
      // contracts one form and not the other
      if (std::fabs(out[i] - s) > 2e-7f * s) ++mismatches;
    }
  }
  REQUIRE(checked > 2000);
  REQUIRE(mismatches == 0);
}

TEST_CASE("fast path equals the f64 oracle for f32 K/V across GQA ratios and head dims", "[attention]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  // groups 2, 3 and 6 take the kernels' partial head tiles; head_dim 40 is no multiple of a SIMD
  // pair (the plain reference path), 80 and 96 take the runtime-width loops and partial tiles
  for (int group : {1, 2, 3, 4, 6, 8})
    for (int d : {40, 64, 80, 96, 128})
      for (auto [past, n] : {std::pair<std::size_t, std::size_t>{0, 1}, {1, 1}, {37, 1}, {1023, 1},
                             {4099, 1}, {0, 13}, {29, 7}, {301, 3}}) {
        const layer_shape shape{2 * group, 2, d};
        INFO("group " << group << " head_dim " << d << " past " << past << " n " << n);
        REQUIRE(fast_vs_oracle<float>(shape, past, n, seed + past + n) <= test::attention_f32_rel);
      }
}

TEST_CASE("fast path equals the oracle on the same bf16/f16 values", "[attention]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  // bf16 rows are read in even/odd lane order: head_dim 64/96/128 check the reordering of q
  // and the accumulators at every width, 40 the plain path
  for (int d : {40, 64, 96, 128})
    for (int group : {3, 4}) {
      const layer_shape shape{2 * group, 2, d};
      for (auto [past, n] : {std::pair<std::size_t, std::size_t>{0, 5}, {777, 1}, {2049, 1}, {100, 9}}) {
        INFO("head_dim " << d << " group " << group << " past " << past << " n " << n);
        REQUIRE(fast_vs_oracle<bf16>(shape, past, n, seed ^ past) <= test::attention_f32_rel);
        REQUIRE(fast_vs_oracle<f16>(shape, past, n, seed ^ (past + 1)) <= test::attention_f32_rel);
      }
    }
}

TEST_CASE("decode over many segments is split across threads and merged exactly", "[attention]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  const layer_shape shape{32, 8, 128};  // Qwen3-8B layer shape
  REQUIRE(fast_vs_oracle<bf16>(shape, 9000, 1, seed) <= test::attention_f32_rel);
}

TEST_CASE("a custom softmax scale is honoured", "[attention]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  layer_shape shape{4, 2, 64};
  shape.scale = 0.05f;
  REQUIRE(fast_vs_oracle<float>(shape, 50, 2, seed) <= test::attention_f32_rel);
}
