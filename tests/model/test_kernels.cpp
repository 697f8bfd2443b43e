// matmul over bf16/f16/f32 weights, RMSNorm, SwiGLU and RoPE against f64 references on fresh random data.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "model/dot.hpp"
#include "model/layers.hpp"
#include "model/matmul.hpp"
#include "model/rope.hpp"
#include "support/random.hpp"

namespace {

// f32 accumulation: |y − y64| ≤ matmul_rel · Σ|w·x|. The kernel sums 64 lanes of ≤ cols/64 products
// each, then a 6-level tree: depth ≤ 1000/64 + 6 + 2 ≈ 24 roundings of 2^-24 ≈ 1.4e-6 (rigorous bound).
constexpr double matmul_rel = 2e-6;
// Sum of n floats: the same depth argument, against Σ|x|.
constexpr double sum_rel = 2e-6;

// Element-wise ops in f32 vs f64: relative.
constexpr double elementwise_rel = 1e-6;

template <class W>
void check_matmul(std::mt19937_64& rng, std::int64_t rows, std::int64_t cols, std::size_t n) {
  const auto w = kvc::test::random_values<W>(rng, std::size_t(rows * cols));
  const auto x = kvc::test::random_values<float>(rng, n * std::size_t(cols));
  const kvc::qwen3::weight_matrix wm{kvc::dtype_of<W>, w.data(), rows, cols};
  std::vector<float> y(n * std::size_t(rows), -1.0f);
  kvc::qwen3::matmul(wm, {x.data(), {n, std::size_t(cols)}}, {y.data(), {n, std::size_t(rows)}});
  double worst = 0;
  for (std::size_t t = 0; t < n; ++t)
    for (std::int64_t r = 0; r < rows; ++r) {
      double exact = 0, mag = 0;
      for (std::int64_t c = 0; c < cols; ++c) {
        const double p = double(kvc::to_float(w[std::size_t(r * cols + c)])) * x[t * std::size_t(cols) + std::size_t(c)];
        exact += p;
        mag += std::fabs(p);
      }
      worst = std::max(worst, std::fabs(y[t * std::size_t(rows) + std::size_t(r)] - exact) / mag);
    }
  INFO(kvc::dtype_name(kvc::dtype_of<W>) << " rows " << rows << " cols " << cols << " tokens " << n);
  CHECK(worst <= matmul_rel);
}

}  // namespace

TEST_CASE("matmul: decode (1 token) and batched paths, every weight dtype, ragged sizes", "[model][kernels]") {
  const auto seed = kvc::test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (std::size_t n : {1u, 3u, 9u})
    for (auto [rows, cols] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {7, 64}, {33, 130}, {65, 1000}}) {
      check_matmul<float>(rng, rows, cols, n);
      check_matmul<kvc::bf16>(rng, rows, cols, n);
      check_matmul<kvc::f16>(rng, rows, cols, n);
    }
}

TEST_CASE("every dot-kernel variant this CPU runs agrees with f64", "[model][kernels]") {
  const auto seed = kvc::test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const auto isas = kvc::qwen3::supported_isas();
  REQUIRE(isas.back() == "portable");
  for (auto isa : isas) {
    const auto& k = kvc::qwen3::dot_kernels_for(isa);
    for (std::int64_t n : {0, 1, 63, 64, 65, 200, 4099}) {
      INFO(isa << " n = " << n);
      const auto w = kvc::test::random_values<kvc::bf16>(rng, std::size_t(n));
      const auto wf = kvc::test::random_values<float>(rng, std::size_t(n));
      const auto x = kvc::test::random_values<float>(rng, std::size_t(n));
      double eb = 0, ef = 0, es = 0, mb = 0, mf = 0, ms = 0;
      for (std::int64_t c = 0; c < n; ++c) {
        const double pb = double(kvc::to_float(w[std::size_t(c)])) * x[std::size_t(c)];
        const double pf = double(wf[std::size_t(c)]) * x[std::size_t(c)];
        eb += pb, ef += pf, es += x[std::size_t(c)];
        mb += std::fabs(pb), mf += std::fabs(pf), ms += std::fabs(x[std::size_t(c)]);
      }
      // depth ≤ n/64 + 8 roundings; 4099/64 ≈ 64 → 72·2^-24 ≈ 4.3e-6
      const double rel = n > 1000 ? 5e-6 : matmul_rel;
      CHECK(std::fabs(k.bf16(w.data(), x.data(), n) - eb) <= rel * mb + 1e-30);
      CHECK(std::fabs(k.f32(wf.data(), x.data(), n) - ef) <= rel * mf + 1e-30);
      CHECK(std::fabs(k.sum(x.data(), n) - es) <= (n > 1000 ? 5e-6 : sum_rel) * ms + 1e-30);
    }
  }
  CHECK_THROWS_AS(kvc::qwen3::dot_kernels_for("sse9"), kvc::error);
}

TEST_CASE("rms_norm and swiglu against f64", "[model][kernels]") {
  const auto seed = kvc::test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const std::size_t rows = 5, width = 96;
  auto x = kvc::test::random_values<float>(rng, rows * width, 3.0f);
  const auto w = kvc::test::random_values<float>(rng, width);
  std::vector<float> y(rows * width);
  kvc::qwen3::rms_norm({x.data(), {rows, width}}, w, 1e-6f, {y.data(), {rows, width}});
  for (std::size_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (std::size_t i = 0; i < width; ++i) ss += double(x[r * width + i]) * x[r * width + i];
    const double inv = 1 / std::sqrt(ss / width + 1e-6);
    for (std::size_t i = 0; i < width; ++i)
      CHECK(y[r * width + i] == Approx(w[i] * x[r * width + i] * inv).epsilon(elementwise_rel).margin(1e-30));
  }
  auto gate = kvc::test::random_values<float>(rng, rows * width, 4.0f);
  const auto up = kvc::test::random_values<float>(rng, rows * width);
  const auto g0 = gate;
  kvc::qwen3::swiglu({gate.data(), {rows, width}}, {up.data(), {rows, width}});
  for (std::size_t i = 0; i < gate.size(); ++i)
    CHECK(gate[i] == Approx(g0[i] / (1 + std::exp(-double(g0[i]))) * up[i]).epsilon(1e-5).margin(1e-30));
}

TEST_CASE("rope: position 0 is the identity, pairs keep their norm, scores depend on p1 - p2 only",
          "[model][kernels][rope]") {
  const auto seed = kvc::test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  kvc::qwen3::rope_config cfg;
  cfg.theta = 1e6;
  const int d = 32;
  const kvc::qwen3::rope_table rope(cfg, d);
  auto q = kvc::test::random_values<float>(rng, d), k = kvc::test::random_values<float>(rng, d);
  auto rot = [&](std::vector<float> v, int pos) {
    const std::int32_t p[] = {pos};
    rope.apply({v.data(), {1, 1, std::size_t(d)}}, p);
    return v;
  };
  CHECK(rot(q, 0) == q);
  const auto q7 = rot(q, 7);
  for (int i = 0; i < d / 2; ++i)
    CHECK(std::hypot(q7[i], q7[i + d / 2]) == Approx(std::hypot(q[i], q[i + d / 2])).epsilon(1e-5));
  auto dotp = [](const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
    return s;
  };
  const double s1 = dotp(rot(q, 10), rot(k, 3)), s2 = dotp(rot(q, 107), rot(k, 100));
  CHECK(s1 == Approx(s2).epsilon(1e-4));
  CHECK(dotp(rot(q, 10), rot(k, 3)) != Approx(dotp(rot(q, 10), rot(k, 9))).epsilon(1e-3));
}
