// kvc::cuda conversion kernel vs the CPU conversion; skips without a GPU.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "kvc/cuda/runtime.hpp"
#include "support/random.hpp"
#include "support/skip.hpp"

using namespace kvc;

namespace {
const bool have_gpu = [] {
  if (cuda::device_count() == 0) test::skip("no CUDA device (" + cuda::device_description() + ")");
  return true;
}();
}  // namespace

TEST_CASE("bf16 -> f32 on the GPU equals the CPU conversion bit for bit", "[cuda]") {
  REQUIRE(have_gpu);
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const auto src = test::random_values<bf16>(rng, 1 << 20, 3.0f);
  std::vector<float> got(src.size());
  cuda::bf16_to_f32(src.data(), got.data(), src.size());
  for (std::size_t i = 0; i < src.size(); ++i) REQUIRE(got[i] == to_float(src[i]));
}
