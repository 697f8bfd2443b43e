// kvc::cuda conversion kernel vs the CPU conversion; skips without a GPU.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "kvc/cuda/runtime.hpp"
#include "support/random.hpp"
#include "support/skip.hpp"

using namespace kvc;

namespace {
// Without a GPU the whole binary skips (exit 77) before any test runs; test_shared_formats
// checks the no-device error path.
const int devices = [] {
  const int n = cuda::device_count();
  if (n == 0) test::skip("no CUDA device (" + cuda::device_description() + ")");
  return n;
}();
}  // namespace

TEST_CASE("bf16 -> f32 on the GPU equals the CPU conversion bit for bit", "[cuda]") {
  INFO(devices << " device(s), device 0: " << cuda::device_description());
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const auto src = test::random_values<bf16>(rng, 1 << 20, 3.0f);
  std::vector<float> got(src.size());
  cuda::bf16_to_f32(src.data(), got.data(), src.size());
  for (std::size_t i = 0; i < src.size(); ++i) REQUIRE(got[i] == to_float(src[i]));
}
