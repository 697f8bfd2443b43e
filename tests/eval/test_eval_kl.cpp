// kvc-qwen3 eval harness: the full cache against itself scores KL 0 / agreement 1, lossy caches
// are caught, and the counts follow the protocol.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "app/eval.hpp"
#include "model/model.hpp"
#include "support/random.hpp"

namespace {

const std::string ckpt = std::string(KVC_TEST_DATA_DIR) + "/qwen3/t1_f32";

/// n token ids in [0, vocab), the same for a given seed.
std::vector<std::int32_t> random_tokens(std::size_t n, int vocab, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  return kvc::test::random_tokens(rng, n, vocab);
}

}  // namespace

TEST_CASE("eval: the baseline against itself gives KL 0 and agreement 1") {
  const auto m = kvc::qwen3::model::load(ckpt);
  const auto tokens = random_tokens(100, m.config().vocab_size, 1);
  kvc::qwen3::eval_options o;
  o.baseline = "full:bf16";
  o.policies = {"full:bf16"};
  o.context = 48;
  o.prefill = 16;
  o.max_windows = 3;  // only 2 fit in 100 tokens
  const auto r = kvc::qwen3::run_eval(m, tokens, o);
  REQUIRE(r.size() == 2);
  CHECK(r[0].policy == "full:bf16");
  for (const auto& x : r) {
    // rows 15 .. 46 of each of 2 windows
    CHECK(x.tokens_scored == 2 * (48 - 16));
    CHECK(x.kl_mean == 0.0);
    CHECK(x.kl_p99 == 0.0);
    CHECK(x.top1_agreement == 1.0);
    CHECK(x.delta_ppl == 0.0);
    CHECK(x.ppl > 1.0);
    CHECK(x.ppl < 10.0 * m.config().vocab_size);
    CHECK(x.compression_ratio > 0.0);
  }
}

TEST_CASE("eval: lossy caches are caught, and worse ones score worse") {
  const auto m = kvc::qwen3::model::load(ckpt);
  const auto tokens = random_tokens(96, m.config().vocab_size, 2);
  kvc::qwen3::eval_options o;
  o.baseline = "full:f32";
  // f16 storage: tiny rounding; 1-bit keys and values: heavy loss (small groups and residual so
  // most of the 96 tokens are quantized).
  o.policies = {"full:f16", "quant:k=1,v=1,group=8,residual=8"};
  o.context = 96;
  o.prefill = 32;
  const auto r = kvc::qwen3::run_eval(m, tokens, o);
  REQUIRE(r.size() == 3);
  CHECK(r[0].kl_mean == 0.0);
  INFO("f16 KL " << r[1].kl_mean << ", 1-bit KL " << r[2].kl_mean << ", 1-bit top-1 " << r[2].top1_agreement);
  CHECK(r[1].kl_mean > 0.0);
  CHECK(r[1].kl_mean < 1e-5);
  CHECK(r[2].kl_mean > 1e-3);
  CHECK(r[2].kl_mean > 100 * r[1].kl_mean);
  CHECK(r[2].kl_p99 >= r[2].kl_mean);
  CHECK(r[2].top1_agreement < 1.0);
  // Ratios are against bf16 K and V of every layer (footprints count allocated pages, so at 96
  // tokens their order says little about the policies).
  const auto sh = m.attention_shape();
  const double bf16_per_token = 2.0 * 2.0 * sh.kv_heads * sh.head_dim * m.config().num_layers;
  for (const auto& x : r) CHECK(x.compression_ratio * x.device_bytes_per_token == Approx(bf16_per_token));
}

TEST_CASE("eval: step > 1 scores the same rows") {
  const auto m = kvc::qwen3::model::load(ckpt);
  const auto tokens = random_tokens(64, m.config().vocab_size, 3);
  kvc::qwen3::eval_options o;
  o.baseline = "full:f32";
  o.policies = {"quant:k=1,v=1,group=8,residual=8"};
  o.context = 64;
  o.prefill = 16;
  o.step = 1;
  const auto decode = kvc::qwen3::run_eval(m, tokens, o);
  o.step = 7;
  const auto chunked = kvc::qwen3::run_eval(m, tokens, o);
  CHECK(decode[1].tokens_scored == chunked[1].tokens_scored);
  CHECK(decode[1].tokens_scored == 48);
  CHECK(decode[1].kl_mean > 0.0);
  CHECK(chunked[1].kl_mean > 0.0);
}

TEST_CASE("eval: bad options are rejected") {
  const auto m = kvc::qwen3::model::load(ckpt);
  const auto tokens = random_tokens(32, m.config().vocab_size, 4);
  kvc::qwen3::eval_options o;
  o.context = 64;
  CHECK_THROWS_AS(kvc::qwen3::run_eval(m, tokens, o), kvc::error);
  o.context = 16;
  o.prefill = 16;
  CHECK_THROWS_AS(kvc::qwen3::run_eval(m, tokens, o), kvc::error);
  o.prefill = 4;
  o.policies = {"nosuchpolicy"};
  CHECK_THROWS_AS(kvc::qwen3::run_eval(m, tokens, o), kvc::error);
}

TEST_CASE("eval: batch_means_ci95 against a hand computation and a simulation") {
  // 4 blocks of 2: means 1, 2, 3, 4 -> sd sqrt(5/3), t(0.975, 3) = 3.182
  const std::vector<double> x{0.5, 1.5, 2, 2, 3, 3, 1, 7, 99};  // the 9th value is a partial block: dropped
  CHECK(kvc::qwen3::batch_means_ci95(x, 2) == Approx(3.182 * std::sqrt(5.0 / 3.0) / 2.0).epsilon(1e-12));
  CHECK(kvc::qwen3::batch_means_ci95(std::vector<double>{1, 2, 3}, 2) == 0.0);  // one block: no interval
  // On independent draws the interval covers the true mean about 95% of the time.
  const auto seed = kvc::test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> draw(4.0);  // skewed like KL values, mean 0.25
  int covered = 0;
  const int trials = 400;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> v(640);
    for (double& d : v) d = draw(rng);
    double mean = 0;
    for (double d : v) mean += d;
    mean /= double(v.size());
    covered += std::fabs(mean - 0.25) <= kvc::qwen3::batch_means_ci95(v);
  }
  CHECK(covered >= int(0.90 * trials));
  CHECK(covered <= int(0.99 * trials));
}
