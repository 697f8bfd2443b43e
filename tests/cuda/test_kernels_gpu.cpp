// The kernel checks of test_kernels_emulated on a real GPU (the same test bodies, device memory);
// skips (exit 77) where no GPU is present.
#include <catch2/catch.hpp>

#include <random>

#include "gpu_driver.hpp"
#include "kernel_checks.hpp"
#include "kvc/cuda/kernels/split_plan.hpp"
#include "kvc/cuda/runtime.hpp"
#include "support/random.hpp"
#include "support/skip.hpp"

using namespace kvc;
using namespace kvc::test;
using namespace kvc::test::kernel_checks;
namespace ck = kvc::cuda::kernels;

namespace {
const int devices = [] {
  const int n = cuda::device_count();
  if (n == 0) skip("no CUDA device (" + cuda::device_description() + ")");
  return n;
}();
}  // namespace

TEST_CASE("GPU: quantize_blocks and dequantize_blocks equal the reference codecs bit for bit", "[cuda][gpu]") {
  INFO(devices << " device(s): " << cuda::device_description());
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  gpu_driver d;
  const int bits = GENERATE(1, 2, 4, 8);
  const std::size_t group = GENERATE(32, 64, 128);
  const quant::block_layout L{bits, bits, group, 128, 8};
  check_quantize_roundtrip<float>(d, rng, L, 5, 2);
  check_quantize_roundtrip<bf16>(d, rng, L, 3, 1);
  check_quantize_roundtrip<f16>(d, rng, L, 2, 4);
}

TEST_CASE("GPU: decode_dense + merge match the f64 oracle", "[cuda][gpu]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  gpu_driver d;
  const std::size_t tokens = GENERATE(0, 1, 17, 63, 64, 65, 127, 257, 4099, 32768);
  const int group = GENERATE(1, 4, 8);
  const auto split = ck::plan_decode_split(tokens, 8);
  INFO(tokens << " tokens, group " << group);
  check_decode_dense<bf16>(d, rng, {8 * group, 8, 128}, tokens, split.chunk);
  check_decode_dense<float>(d, rng, {8 * group, 8, 64}, tokens, 7 + tokens / 3);
  check_decode_dense<f16>(d, rng, {8 * group, 8, 128}, tokens, 256, /*gather=*/true);
}

TEST_CASE("GPU: decode_quant + residual + merge match the f64 oracle on the stored form", "[cuda][gpu]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  gpu_driver d;
  const int bits = GENERATE(1, 2, 4, 8);
  const std::size_t group = GENERATE(32, 64, 128);
  const std::size_t blocks = GENERATE(0, 1, 9, 512);
  const quant::block_layout L{bits, bits, group, 128, 8};
  const auto split = ck::plan_decode_split(blocks * group, 8, {}, group);
  INFO("bits " << bits << " G " << group << " blocks " << blocks);
  check_decode_quant(d, rng, L, 32, blocks, split.chunk / group, 100, 16);
}
