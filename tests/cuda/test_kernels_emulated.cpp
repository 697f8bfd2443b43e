// The CUDA kernels' phase code run by the CPU block emulator: every kernel family against the
// reference codecs (bit for bit) and the f64 oracle, on odd lengths, forced splits, GQA 1/4/8.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include "emulator_driver.hpp"
#include "kernel_checks.hpp"
#include "kvc/core/error.hpp"
#include "kvc/cuda/kernels/split_plan.hpp"
#include "support/random.hpp"

using namespace kvc;
using namespace kvc::test;
using namespace kvc::test::kernel_checks;
namespace ck = kvc::cuda::kernels;

TEST_CASE("quantize_blocks writes the reference codecs' codes, scales and mins; dequantize_blocks their floats",
          "[cuda][emulator]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  emulator_driver d;
  const int bits = GENERATE(1, 2, 4, 8);
  const int value_bits = GENERATE(1, 2, 4, 8);
  const std::size_t group = GENERATE(32, 64, 128);
  const std::size_t dim = GENERATE(64, 128);
  if (dim % group != 0) return;
  const quant::block_layout L{bits, value_bits, group, dim, 3};
  INFO("k" << bits << " v" << value_bits << " G" << group << " D" << dim);
  check_quantize_roundtrip<float>(d, rng, L, 3, 2);
  check_quantize_roundtrip<bf16>(d, rng, L, 2, 1);
  check_quantize_roundtrip<f16>(d, rng, L, 1, 4);
}

TEST_CASE("decode_dense + merge_partials match the f64 oracle at odd lengths and forced splits", "[cuda][emulator]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  emulator_driver d;
  const std::size_t tokens = GENERATE(0, 1, 17, 63, 64, 65, 127, 129, 257, 4099);
  const std::size_t chunk = GENERATE(1, 7, 256, 100000);
  INFO(tokens << " tokens, chunks of " << chunk);
  if (chunk == 1 && tokens > 300) return;  // one CTA per token: covered on the short lengths
  check_decode_dense<bf16>(d, rng, {8, 2, 128}, tokens, chunk);
}

TEST_CASE("decode_dense serves GQA 1/4/8 at head_dim 64/128 for f32, bf16 and f16 rows, and gathers through a row list",
          "[cuda][emulator]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  emulator_driver d;
  const int group = GENERATE(1, 4, 8);
  const int dim = GENERATE(64, 128);
  const std::size_t tokens = GENERATE(65, 700);
  const decode_shape s{2 * group, 2, dim};
  INFO("group " << group << " dim " << dim << " tokens " << tokens);
  check_decode_dense<float>(d, rng, s, tokens, 256);
  check_decode_dense<bf16>(d, rng, s, tokens, 128);
  check_decode_dense<f16>(d, rng, s, tokens, 300);
  check_decode_dense<bf16>(d, rng, s, tokens, 200, /*gather=*/true);
}

TEST_CASE("decode_dense at 32k tokens with the split the planner picks for an H200", "[cuda][emulator]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  emulator_driver d;
  const auto split = ck::plan_decode_split(32768, 2);
  const double err = check_decode_dense<bf16>(d, rng, {8, 2, 128}, 32768, split.chunk);
  WARN("32768 tokens, " << split.chunks << " chunks of " << split.chunk << ": max error " << err);
}

TEST_CASE("decode_quant + residual rows + merge match the f64 oracle on the stored form", "[cuda][emulator]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  emulator_driver d;
  const int bits = GENERATE(1, 2, 4, 8);
  const std::size_t group = GENERATE(32, 64, 128);
  const int gqa = GENERATE(1, 4, 8);
  const quant::block_layout L{bits, bits, group, 128, 2};
  INFO("bits " << bits << " G " << group << " GQA " << gqa);
  check_decode_quant(d, rng, L, 2 * gqa, 5, 2, 17);      // 3 CTAs per head, the last one block short
  check_decode_quant(d, rng, L, 2 * gqa, 7, 7, 0, 3);    // one CTA, no residual (an empty slot merged)
  check_decode_quant(d, rng, L, 2 * gqa, 1, 1, 128, 1);  // one block, a full window
}

TEST_CASE("decode_quant at odd block counts and splits, head_dim 64, mixed bits", "[cuda][emulator]") {
  const auto seed = fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  emulator_driver d;
  const std::size_t blocks = GENERATE(0, 1, 2, 9, 64);
  const std::size_t chunk_blocks = GENERATE(1, 3, 64);
  const std::size_t residual = GENERATE(0, 1, 63);
  INFO(blocks << " blocks, " << chunk_blocks << " per CTA, " << residual << " residual rows");
  check_decode_quant(d, rng, {2, 4, 32, 64, 3}, 12, blocks, chunk_blocks, residual, 5);
}

TEST_CASE("the kernels' results do not depend on the order of threads within a phase", "[cuda][emulator]") {
  // Within a phase the emulator runs threads one after another; reversing that order changes
  // the result only if a phase reads what another thread of the same phase writes (a GPU race).
  const auto seed = fresh_seed();
  emulator_driver forward, reverse;
  reverse.order = thread_order::reverse;
  std::mt19937_64 a(seed), b(seed);
  const double ea = check_decode_quant(forward, a, {4, 2, 64, 128, 2}, 8, 6, 4, 33);
  const double eb = check_decode_quant(reverse, b, {4, 2, 64, 128, 2}, 8, 6, 4, 33);
  REQUIRE(ea == eb);
  std::mt19937_64 c(seed), e(seed);
  REQUIRE(check_decode_dense<f16>(forward, c, {16, 2, 128}, 1000, 300) ==
          check_decode_dense<f16>(reverse, e, {16, 2, 128}, 1000, 300));
}

TEST_CASE("the split planner gives FlashInfer's launch shapes for an H200", "[cuda][plan]") {
  // 132 SMs x 8 CTAs = 1056; 8 KV heads -> 132 CTAs per head (research/cuda.md §1.5)
  auto s = ck::plan_decode_split(32768, 8);
  REQUIRE(s.chunk == 256);
  REQUIRE(s.chunks == 128);
  REQUIRE(s.ctas(8) == 1024);
  s = ck::plan_decode_split(32768, 8, {}, 64);  // 2-bit blocks of 64: chunks of 4 blocks
  REQUIRE(s.chunk == 256);
  REQUIRE(s.chunks == 128);
  s = ck::plan_decode_split(131072, 8, {}, 64);  // 128k: chunks of 16 blocks, 1024 CTAs
  REQUIRE(s.chunk == 1024);
  REQUIRE(s.chunks == 128);
  s = ck::plan_decode_split(200, 8);  // short: no split
  REQUIRE(s.chunks == 1);
  s = ck::plan_decode_split(0, 8);
  REQUIRE(s.chunks == 1);
  REQUIRE_THROWS_WITH(ck::plan_decode_split(10, 0), Catch::Contains("kv_heads"));
}

TEST_CASE("kernel parameters out of range are a kvc::error naming the field", "[cuda][emulator]") {
  emulator_driver d;
  std::vector<float> buf(1024);
  ck::decode_dense_params<float> p;
  p.q = p.k = p.v = buf.data();
  p.q_heads = 32;
  p.kv_heads = 2;  // group 16
  p.head_dim = 64;
  p.row_stride = 128;
  p.tokens = 10;
  p.chunk_tokens = 10;
  p.out = ck::partials::in(buf.data(), 32, 1, 64);
  REQUIRE_THROWS_WITH(d.run<ck::decode_dense<float>>(p), Catch::Contains("GQA group 16 exceeds 8"));
  p.q_heads = 4;
  p.head_dim = 512;
  p.out.head_dim = 512;
  REQUIRE_THROWS_WITH(d.run<ck::decode_dense<float>>(p), Catch::Contains("head_dim 512"));
  p.head_dim = 64;
  p.out.head_dim = 64;
  p.chunk_tokens = 3;  // 4 chunks, 1 slot
  REQUIRE_THROWS_WITH(d.run<ck::decode_dense<float>>(p), Catch::Contains("outside the workspace"));
  ck::decode_quant_params qp;
  qp.layout = {3, 2, 64, 128, 2};
  REQUIRE_THROWS_WITH(d.run<ck::decode_quant>(qp), Catch::Contains("k (key bits)"));
}
