// Sampler: reproducibility, greedy, and the distribution of draws under each filter (chi-square bounds).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "app/text/sampler.hpp"
#include "kvc/core/error.hpp"

using kvc::qwen3::sampler;
using kvc::qwen3::sampling_params;

namespace {

constexpr int draws = 200000;
/// Chi-square critical values at p = 1e-6 for 1..5 degrees of freedom: a correct sampler exceeds them
/// one time in a million; a wrong distribution exceeds them by orders of magnitude at this many draws.
constexpr double chi2_critical[] = {0, 23.93, 27.63, 30.66, 33.38, 35.89};

const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -3.0f};

/// Softmax of logits[i] / temperature over `kept` ids (0 elsewhere), with `bias` added to logits first.
std::vector<double> expected_probs(const std::vector<int>& kept, double temperature,
                                   const std::vector<double>& bias = {}) {
  std::vector<double> p(logits.size(), 0.0);
  double sum = 0;
  for (const int i : kept) {
    const double b = bias.empty() ? 0.0 : bias[i];
    sum += p[i] = std::exp((logits[i] + b) / temperature);
  }
  for (auto& x : p) x /= sum;
  return p;
}

/// Draws `draws` tokens; returns the chi-square statistic against `p` and requires tokens with p = 0
/// never to appear.
double chi_square(sampler& s, const std::vector<double>& p) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts.at(static_cast<std::size_t>(s.sample(logits)));
  double stat = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      CHECK(counts[i] == 0);
      continue;
    }
    const double e = draws * p[i];
    stat += (counts[i] - e) * (counts[i] - e) / e;
  }
  return stat;
}

int degrees_of_freedom(const std::vector<double>& p) {
  return static_cast<int>(std::count_if(p.begin(), p.end(), [](double x) { return x > 0; })) - 1;
}

}  // namespace

TEST_CASE("sampler: presets follow the Qwen3 advice", "[sampler]") {
  const auto t = sampling_params::thinking();
  CHECK(t.temperature == 0.6f);
  CHECK(t.top_p == 0.95f);
  CHECK(t.top_k == 20);
  CHECK(t.min_p == 0.0f);
  const auto n = sampling_params::non_thinking();
  CHECK(n.temperature == 0.7f);
  CHECK(n.top_p == 0.8f);
  CHECK(n.top_k == 20);
}

TEST_CASE("sampler: greedy is argmax, ties go to the lowest id", "[sampler]") {
  sampler s(sampling_params{});
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> l(1000);
    for (auto& x : l) x = static_cast<float>(static_cast<double>(rng() % 20000) / 1000.0 - 10.0);
    const auto expected = std::max_element(l.begin(), l.end()) - l.begin();
    CHECK(s.sample(l) == expected);
  }
  CHECK(s.sample(std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f}) == 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(s.sample(std::vector<float>{nan, -1.0f, nan}) == 1);
}

TEST_CASE("sampler: the same seed gives the same sequence", "[sampler]") {
  auto p = sampling_params::thinking();
  p.seed = 42;
  std::vector<float> big(5000);
  std::mt19937_64 rng(3);
  for (auto& x : big) x = static_cast<float>(static_cast<double>(rng() % 1000) / 100.0);
  sampler a(p), b(p);
  std::vector<std::int32_t> seq_a, seq_b;
  for (int i = 0; i < 200; ++i) {
    seq_a.push_back(a.sample(big));
    seq_b.push_back(b.sample(big));
  }
  CHECK(seq_a == seq_b);
  a.reset();
  std::vector<std::int32_t> again;
  for (int i = 0; i < 200; ++i) again.push_back(a.sample(big));
  CHECK(again == seq_a);
  p.seed = 43;
  sampler c(p);
  std::vector<std::int32_t> seq_c;
  for (int i = 0; i < 200; ++i) seq_c.push_back(c.sample(big));
  CHECK(seq_c != seq_a);
}

TEST_CASE("sampler: draws follow the filtered softmax", "[sampler]") {
  struct scenario {
    const char* name;
    sampling_params params;
    std::vector<double> p;
  };
  // Probabilities at T = 1: 0.561, 0.206, 0.125, 0.076, 0.028, 0.004.
  // top_p 0.8 keeps {0, 1, 2} (0.767 < 0.8 <= 0.892); min_p 0.3 keeps p >= 0.168: {0, 1}.
  std::vector<scenario> scenarios = {
      {"temperature 1", {1.0f, 0, 1.0f, 0, 0, 1}, expected_probs({0, 1, 2, 3, 4, 5}, 1.0)},
      {"temperature 0.5", {0.5f, 0, 1.0f, 0, 0, 2}, expected_probs({0, 1, 2, 3, 4, 5}, 0.5)},
      {"temperature 2.5", {2.5f, 0, 1.0f, 0, 0, 3}, expected_probs({0, 1, 2, 3, 4, 5}, 2.5)},
      {"top_k 3", {1.0f, 3, 1.0f, 0, 0, 4}, expected_probs({0, 1, 2}, 1.0)},
      {"top_p 0.8", {1.0f, 0, 0.8f, 0, 0, 5}, expected_probs({0, 1, 2}, 1.0)},
      {"min_p 0.3", {1.0f, 0, 1.0f, 0.3f, 0, 6}, expected_probs({0, 1}, 1.0)},
      {"top_k 4 + top_p 0.95", {1.0f, 4, 0.95f, 0, 0, 7}, expected_probs({0, 1, 2, 3}, 1.0)},
  };
  for (auto& sc : scenarios) {
    INFO(sc.name);
    sampler s(sc.params);
    const double stat = chi_square(s, sc.p);
    INFO("chi-square " << stat);
    CHECK(stat < chi2_critical[degrees_of_freedom(sc.p)]);
  }
}

TEST_CASE("sampler: a wrong distribution is detected by the same bound", "[sampler]") {
  // Guards the test itself: draws at T = 1 judged against the T = 0.5 probabilities must fail.
  sampler s({1.0f, 0, 1.0f, 0, 0, 11});
  const auto wrong = expected_probs({0, 1, 2, 3, 4, 5}, 0.5);
  CHECK(chi_square(s, wrong) > chi2_critical[5] * 10);
}

TEST_CASE("sampler: presence penalty lowers accepted tokens once", "[sampler]") {
  constexpr float penalty = 1.5f;
  sampler greedy({0, 0, 1, 0, penalty, 0});
  CHECK(greedy.sample(logits) == 0);
  greedy.accept(0);
  greedy.accept(0);  // counted once: presence, not frequency
  CHECK(greedy.sample(logits) == 1);  // 2.0 - 1.5 = 0.5 < 1.0
  greedy.reset();
  CHECK(greedy.sample(logits) == 0);

  sampler s({1.0f, 0, 1.0f, 0, penalty, 21});
  s.accept(0);
  s.accept(2);
  const auto p = expected_probs({0, 1, 2, 3, 4, 5}, 1.0, {-penalty, 0, -penalty, 0, 0, 0});
  const double stat = chi_square(s, p);
  INFO("chi-square " << stat);
  CHECK(stat < chi2_critical[5]);
}

TEST_CASE("sampler: -inf logits are never drawn", "[sampler]") {
  const float ninf = -std::numeric_limits<float>::infinity();
  sampler s({1.0f, 0, 1.0f, 0, 0, 5});
  const std::vector<float> l = {ninf, 0.0f, ninf, 0.0f};
  for (int i = 0; i < 1000; ++i) {
    const auto t = s.sample(l);
    CHECK((t == 1 || t == 3));
  }
}

TEST_CASE("sampler: bad parameters and inputs raise kvc::error", "[sampler]") {
  CHECK_THROWS_AS(sampler({-1.0f}), kvc::error);
  CHECK_THROWS_AS(sampler({1.0f, -2}), kvc::error);
  CHECK_THROWS_AS(sampler({1.0f, 0, 0.0f}), kvc::error);
  CHECK_THROWS_AS(sampler({1.0f, 0, 1.5f}), kvc::error);
  CHECK_THROWS_AS(sampler({1.0f, 0, 1.0f, -0.1f}), kvc::error);
  sampler s(sampling_params{});
  CHECK_THROWS_WITH(s.sample(std::vector<float>{}), Catch::Contains("empty logits"));
  const float ninf = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(s.sample(std::vector<float>{ninf, ninf}), Catch::Contains("-inf"));
  CHECK_THROWS_AS(s.accept(-1), kvc::error);
}

TEST_CASE("sampler: top_p over a large vocabulary keeps exactly the most likely prefix", "[sampler]") {
  // 100 tokens at logit 5, 900 at 0: each of the first holds e^5 / (100 e^5 + 900) = 0.94% of the mass,
  // so top_p 0.9 needs ceil(0.9 / 0.0094281) = 96 of them (ids 0..95; equal logits go by lower id).
  constexpr int vocab = 1000, high = 100, expected_keep = 96, n_draws = 50000;
  std::vector<float> l(vocab, 0.0f);
  std::fill(l.begin(), l.begin() + high, 5.0f);
  sampler s({1.0f, 0, 0.9f, 0, 0, 8});
  std::vector<int> counts(vocab, 0);
  for (int i = 0; i < n_draws; ++i) ++counts.at(static_cast<std::size_t>(s.sample(l)));
  for (int id = 0; id < vocab; ++id) {
    INFO("id " << id);
    if (id < expected_keep) CHECK(counts[id] > 0);
    else CHECK(counts[id] == 0);
  }
}
