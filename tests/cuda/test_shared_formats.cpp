// The shared formats as nvcc compiles them equal the g++ build bit for bit; runs without a GPU.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kvc/attention/softmax_merge.hpp"
#include "kvc/core/dtype.hpp"
#include "kvc/cuda/runtime.hpp"
#include "kvc/quant/group_params.hpp"
#include "kvc/quant/layout.hpp"
#include "shared_formats.hpp"
#include "support/random.hpp"

using namespace kvc;

namespace {
std::uint32_t bits_of(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
/// Floats across the whole range, specials and subnormals included.
std::vector<float> awkward_floats(std::mt19937_64& rng, std::size_t n) {
  std::vector<float> x = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65520.0f, 1e-8f, -6e-8f, 3.0e38f,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min()};
  std::uniform_int_distribution<std::uint32_t> any;
  while (x.size() < n) {
    const std::uint32_t u = any(rng);
    float f;
    std::memcpy(&f, &u, 4);
    x.push_back(f);
  }
  return x;
}
}  // namespace

TEST_CASE("nvcc's dtype conversions equal g++'s bit for bit", "[cuda]") {
  REQUIRE(test::nvcc::device_kernel_built());
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (float x : awkward_floats(rng, 200000)) {
    INFO("x bits " << bits_of(x));
    REQUIRE(test::nvcc::bf16_bits(x) == to_bf16(x).bits);
    REQUIRE(test::nvcc::f16_bits(x) == to_f16(x).bits);
  }
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const auto h = std::uint16_t(b);
    const float a = test::nvcc::bf16_value(h), c = test::nvcc::f16_value(h);
    REQUIRE((bits_of(a) == bits_of(to_float(bf16{h})) || (std::isnan(a) && std::isnan(to_float(bf16{h})))));
    REQUIRE((bits_of(c) == bits_of(to_float(f16{h})) || (std::isnan(c) && std::isnan(to_float(f16{h})))));
  }
}

TEST_CASE("nvcc's group parameters, codes and block layout equal g++'s", "[cuda]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (int i = 0; i < 100000; ++i) {
    const int bits = 1 << (i % 4);
    float lo = normal(rng), hi = normal(rng);
    if (lo > hi) std::swap(lo, hi);
    const quant::group_params p = quant::make_group_params(lo, hi, bits);
    REQUIRE(test::nvcc::group_params_bits(lo, hi, bits) == (std::uint32_t(p.scale.bits) << 16 | p.min.bits));
    const float x = normal(rng), s = to_float(p.scale), m = to_float(p.min), maxq = float(quant::max_code(bits));
    REQUIRE(test::nvcc::quant_code(x, m, s, maxq) == quant::quant_code(x, m, s, maxq));
  }
  for (int kb : {1, 2, 4, 8})
    for (int vb : {1, 2, 4, 8})
      for (std::size_t g : {8, 16, 32, 64, 128})
        for (std::size_t dim : {64, 128, 256}) {
          if (dim % g != 0) continue;
          const quant::block_layout L{kb, vb, g, dim, 8};
          REQUIRE(test::nvcc::head_bytes(kb, vb, g, dim, 8) == L.head_bytes());
          REQUIRE(test::nvcc::value_mins_off(kb, vb, g, dim, 8) == L.value_mins_off());
          const std::size_t t = (g * 7 + dim) % g, c = (dim * 5 + 3) % dim;
          REQUIRE(test::nvcc::key_slot_byte(kb, vb, g, dim, 8, t, c) == L.key_slot(t, c).byte);
        }
}

TEST_CASE("nvcc's softmax merge equals g++'s, empty partials included", "[cuda]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const std::size_t dim = 24;
  for (int i = 0; i < 20000; ++i) {
    const bool empty_a = i % 7 == 0, empty_b = i % 11 == 0;
    float m1 = empty_a ? -INFINITY : normal(rng), l1 = empty_a ? 0.0f : std::abs(normal(rng)) + 0.1f;
    const float m2 = empty_b ? -INFINITY : normal(rng), l2 = empty_b ? 0.0f : std::abs(normal(rng)) + 0.1f;
    std::vector<float> a(dim), b(dim);
    for (auto& x : a) x = empty_a ? 0.0f : normal(rng);
    for (auto& x : b) x = empty_b ? 0.0f : normal(rng);
    float m_n = m1, l_n = l1, m_g = m1, l_g = l1;
    std::vector<float> acc_n = a, acc_g = a;
    test::nvcc::softmax_merge(m_n, l_n, acc_n.data(), m2, l2, b.data(), dim);
    softmax_merge(m_g, l_g, acc_g.data(), m2, l2, b.data(), dim);
    REQUIRE(bits_of(m_n) == bits_of(m_g));
    REQUIRE(bits_of(l_n) == bits_of(l_g));
    for (std::size_t d = 0; d < dim; ++d) REQUIRE(bits_of(acc_n[d]) == bits_of(acc_g[d]));
    REQUIRE(std::isfinite(l_g));
  }
}

TEST_CASE("kvc::cuda without a usable device refuses with a kvc::error that says why", "[cuda]") {
  if (cuda::device_count() > 0) {
    SUCCEED("a GPU is present: test_cuda_runtime checks the kernels");
    return;
  }
  std::vector<bf16> src(16, bf16{0x3f80});
  std::vector<float> dst(16, 0.0f);
  REQUIRE_THROWS_AS(cuda::bf16_to_f32(src.data(), dst.data(), src.size()), kvc::error);
  REQUIRE_THROWS_WITH(cuda::bf16_to_f32(src.data(), dst.data(), src.size()), Catch::Contains("CUDA error"));
  REQUIRE(dst == std::vector<float>(16, 0.0f));  // nothing was written
  REQUIRE_FALSE(cuda::device_description().empty());
}
