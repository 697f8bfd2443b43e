// The plan search: the knapsack against exhaustive enumeration, its budget guarantee and errors,
// and the sensitivities measured on a tiny checkpoint.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "app/plan_search.hpp"
#include "kvc/memory_plan.hpp"
#include "support/random.hpp"

namespace {

using namespace kvc;
using namespace kvc::qwen3;

/// A random sensitivity table: `layers` × `candidates`, KL in [0, 1), bytes in [1, max_bytes].
layer_sensitivity random_table(std::mt19937_64& rng, int layers, int candidates, std::size_t max_bytes) {
  std::uniform_real_distribution<double> kl(0.0, 1.0);
  std::uniform_int_distribution<std::size_t> bytes(1, max_bytes);
  layer_sensitivity s;
  for (int c = 0; c < candidates; ++c) {
    s.candidates.push_back(std::to_string(c));  // names only label the choice
    s.device_bytes.push_back(bytes(rng));
    s.host_bytes.push_back(0);
  }
  s.kl.assign(std::size_t(layers), std::vector<double>(std::size_t(candidates)));
  for (auto& row : s.kl)
    for (double& x : row) x = kl(rng);
  return s;
}

/// The exact optimum by enumerating every choice: the least KL within the budget (inf if none).
double brute_force(const layer_sensitivity& s, std::size_t budget) {
  const std::size_t L = s.kl.size(), C = s.candidates.size();
  double best = INFINITY;
  std::vector<std::size_t> pick(L, 0);
  for (;;) {
    std::size_t bytes = 0;
    double kl = 0;
    for (std::size_t l = 0; l < L; ++l) {
      bytes += s.device_bytes[pick[l]];
      kl += s.kl[l][pick[l]];
    }
    if (bytes <= budget) best = std::min(best, kl);
    std::size_t l = 0;
    while (l < L && ++pick[l] == C) pick[l++] = 0;
    if (l == L) return best;
  }
}

}  // namespace

TEST_CASE("choose_plan finds the exhaustive optimum when costs need no rounding", "[plan][search]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 200; ++trial) {
    const layer_sensitivity s = random_table(rng, 5, 4, 100);
    std::size_t smallest = 0, largest = 0;
    for (std::size_t l = 0; l < 5; ++l) {
      smallest += *std::min_element(s.device_bytes.begin(), s.device_bytes.end());
      largest += *std::max_element(s.device_bytes.begin(), s.device_bytes.end());
    }
    const std::size_t budget = std::uniform_int_distribution<std::size_t>(smallest, largest)(rng);
    INFO("trial " << trial << " budget " << budget);
    const searched_plan p = choose_plan(s, budget);  // budget < resolution: 1-byte units, exact
    CHECK(p.device_bytes <= budget);
    CHECK(std::fabs(p.predicted_kl - brute_force(s, budget)) <= 1e-12);
    double sum = 0;
    for (std::size_t l = 0; l < 5; ++l) sum += s.kl[l][std::size_t(p.choice[l])];
    CHECK(std::fabs(sum - p.predicted_kl) <= 1e-12);
    CHECK(p.plan.layers.size() == 5);
  }
}

TEST_CASE("choose_plan keeps a uniform plan at exactly the budget feasible", "[plan][search]") {
  // costs with a large common divisor and a budget of exactly 30 × the middle one: units of the
  // divisor are exact, so the uniform plan (or a better one) is found, never a worse one
  layer_sensitivity s;
  s.candidates = {"a", "b", "c"};
  s.device_bytes = {565248, 368640, 270336};
  s.host_bytes = {0, 0, 0};
  s.kl.assign(30, {0.0, 1e-4, 1e-2});
  s.kl[29][2] = 2e-4;  // one layer where the cheaper candidate costs little more
  const searched_plan p = choose_plan(s, 30 * 368640);
  CHECK(p.device_bytes <= 30 * 368640);
  CHECK(p.predicted_kl <= 30 * 1e-4 + 1e-12);
}

TEST_CASE("choose_plan never exceeds the budget when it rounds costs", "[plan][search]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 100; ++trial) {
    const layer_sensitivity s = random_table(rng, 12, 5, 1'000'000);
    std::size_t smallest = 0;
    for (std::size_t l = 0; l < 12; ++l) smallest += *std::min_element(s.device_bytes.begin(), s.device_bytes.end());
    const std::size_t budget = smallest * 3;
    const searched_plan coarse = choose_plan(s, budget, 50);  // units of budget / 50 bytes
    CHECK(coarse.device_bytes <= budget);
    // a finer grid is never worse
    CHECK(choose_plan(s, budget, 20000).predicted_kl <= coarse.predicted_kl + 1e-12);
  }
}

TEST_CASE("choose_plan rejects a budget below the smallest plan", "[plan][search]") {
  layer_sensitivity s;
  s.candidates = {"full:bf16", "quant:k=2,v=2"};
  s.device_bytes = {1000, 300};
  s.host_bytes = {0, 0};
  s.kl = {{0.0, 0.5}, {0.0, 0.2}, {0.0, 0.1}};
  CHECK_THROWS_WITH(choose_plan(s, 899), Catch::Contains("budget of 899 device bytes is below the smallest plan") &&
                                             Catch::Contains("900 bytes"));
  const searched_plan p = choose_plan(s, 900);
  CHECK(p.plan.layers == std::vector<std::string>(3, "quant:k=2,v=2"));
  // 1600 bytes: one layer may stay full; the one whose quantized KL is largest (layer 0)
  const searched_plan q = choose_plan(s, 1600);
  CHECK(q.plan.layers[0] == "full:bf16");
  CHECK(q.plan.layers[1] == "quant:k=2,v=2");
  CHECK(std::fabs(q.predicted_kl - 0.3) <= 1e-12);
}

TEST_CASE("merge_sensitivities appends the candidates the first report lacks", "[plan][search]") {
  layer_sensitivity a;
  a.candidates = {"full:bf16", "quant:k=4,v=4"};
  a.device_bytes = {1000, 400};
  a.host_bytes = {0, 0};
  a.plan_context = 64;
  a.tokens_scored = 16;
  a.kl = {{0.0, 0.25}, {0.0, 0.5}};
  layer_sensitivity b = a;
  b.candidates = {"quant:k=4,v=4", "quant:k=8,v=4"};
  b.device_bytes = {999, 600};
  b.host_bytes = {0, 7};
  b.kl = {{9.0, 0.125}, {9.0, 0.0625}};
  const auto m = merge_sensitivities(a, b, "b.json");
  CHECK(m.candidates == std::vector<std::string>{"full:bf16", "quant:k=4,v=4", "quant:k=8,v=4"});
  CHECK(m.device_bytes == std::vector<std::size_t>{1000, 400, 600});  // a's values for the shared spec
  CHECK(m.host_bytes == std::vector<std::size_t>{0, 0, 7});
  CHECK(m.kl == std::vector<std::vector<double>>{{0.0, 0.25, 0.125}, {0.0, 0.5, 0.0625}});
  // the merged table chooses across both: at 1000 bytes, k8/v4 on the layer where it saves most KL (layer 1)
  CHECK(choose_plan(m, 1000).plan.layers == std::vector<std::string>{"quant:k=4,v=4", "quant:k=8,v=4"});

  b.tokens_scored = 32;
  CHECK_THROWS_WITH(merge_sensitivities(a, b, "b.json"), Catch::Contains("b.json") && Catch::Contains("tokens_scored 32"));
  b.tokens_scored = 16;
  b.plan_context = 128;
  CHECK_THROWS_WITH(merge_sensitivities(a, b, "b.json"), Catch::Contains("plan_context 128"));
  b.plan_context = 64;
  b.kl.pop_back();
  CHECK_THROWS_WITH(merge_sensitivities(a, b, "b.json"), Catch::Contains("KL for 1 layers"));
}

TEST_CASE("measure_sensitivity on a tiny checkpoint: the baseline costs nothing, coarser codes cost more",
          "[plan][search][model]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const model m = model::load(std::string(KVC_TEST_DATA_DIR) + "/qwen3/t1_f32");
  std::vector<std::int32_t> tokens(160);
  for (auto& t : tokens) t = std::int32_t(rng() % std::uint64_t(m.config().vocab_size));
  eval_options o;
  o.context = 160;
  o.prefill = 128;
  const std::vector<std::string> candidates{"full:bf16", "quant:k=8,v=8,group=32,residual=32",
                                            "quant:k=1,v=1,group=32,residual=32"};
  // bytes planned at 2048 tokens, where 1024-token quant chunks hold less than bf16 pages
  const layer_sensitivity s = measure_sensitivity(m, tokens, o, candidates, 2048);
  REQUIRE(s.kl.size() == 3);
  CHECK(s.tokens_scored == 32);
  for (std::size_t l = 0; l < 3; ++l) {
    INFO("layer " << l);
    CHECK(s.kl[l][0] == 0.0);
    CHECK(s.kl[l][1] >= 0.0);
    CHECK(s.kl[l][2] > s.kl[l][1]);  // 1-bit codes move the logits more than 8-bit ones
  }
  // the bytes are the planner's, for one layer
  for (std::size_t c = 0; c < candidates.size(); ++c)
    CHECK(s.device_bytes[c] ==
          plan_kv_bytes(cache_plan::uniform(candidates[c], 1), m.attention_shape(), 2048, 1).total().device_bytes);
  CHECK(s.device_bytes[2] < s.device_bytes[1]);
  CHECK(s.device_bytes[1] < s.device_bytes[0]);
}
