// TailorKV calibration: the dense-preference metric against a direct f64 computation, and the
// per-layer classification of a synthetic model whose layers are built dense or sparse on purpose.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "kvc/plan/calibrate.hpp"
#include "kvc_support/synthetic.hpp"
#include "plan_tolerances.hpp"
#include "support/random.hpp"

using namespace kvc;

namespace {

/// The formula of tailorkv.md §1.2 written out directly in f64: for each of the last
/// min(n, last_q) queries and every query head, softmax over the visible keys, sort, keep the
/// top ⌊alpha·visible⌋, average (1 − kept mass).
template <class T>
double f64_dense_preference(const std::vector<T>& q, const std::vector<T>& k, const layer_shape& sh,
                            std::size_t n, std::size_t keys, const dense_preference_options& o) {
  const std::size_t hq = sh.q_heads, hk = sh.kv_heads, d = sh.head_dim;
  const double scale = 1.0 / std::sqrt(double(d));
  const std::size_t rows = std::min(n, o.last_queries);
  double sum = 0;
  for (std::size_t r = n - rows; r < n; ++r)
    for (std::size_t h = 0; h < hq; ++h) {
      const std::size_t kh = h / (hq / hk), pos = keys - n + r;
      const std::size_t visible = o.causal ? pos + 1 : keys;
      std::vector<double> s(visible);
      for (std::size_t t = 0; t < visible; ++t) {
        double dot = 0;
        for (std::size_t c = 0; c < d; ++c)
          dot += double(to_float(q[(r * hq + h) * d + c])) * double(to_float(k[(t * hk + kh) * d + c]));
        s[t] = dot * scale;
      }
      const double mx = *std::max_element(s.begin(), s.end());
      double total = 0;
      for (double& x : s) total += (x = std::exp(x - mx));
      std::sort(s.begin(), s.end(), std::greater<double>());
      const auto top = std::size_t(std::floor(o.top_fraction * double(visible)));
      double kept = 0;
      for (std::size_t t = 0; t < top; ++t) kept += s[t];
      sum += 1.0 - kept / total;
    }
  return sum / double(rows * hq);
}

struct metric_case {
  layer_shape shape;
  std::size_t n, keys;
  dense_preference_options options;
};

template <class T>
void check_against_f64(const metric_case& c, std::uint64_t seed) {
  INFO("seed " << seed << " n " << c.n << " keys " << c.keys << " causal " << c.options.causal << " dtype "
               << dtype_name(dtype_of<T>));
  std::mt19937_64 rng(seed);
  const std::size_t hq = c.shape.q_heads, hk = c.shape.kv_heads, d = c.shape.head_dim;
  // sigma 1.3 at head_dim 32–64 spreads the logits (std ≈ 1.7–2.4), so P lands well inside (0, 1)
  const auto q = test::random_values<T>(rng, c.n * hq * d, 1.3f);
  const auto k = test::random_values<T>(rng, c.keys * hk * d, 1.3f);
  const double got = dense_preference_score(tensor_view<const T, 3>(q.data(), {c.n, hq, d}),
                                            tensor_view<const T, 3>(k.data(), {c.keys, hk, d}), c.shape, c.options);
  const double want = f64_dense_preference(q, k, c.shape, c.n, c.keys, c.options);
  INFO("P " << got << " f64 " << want);
  REQUIRE(std::abs(got - want) <= test::dense_score_abs);
}

}  // namespace

TEST_CASE("dense_preference_score equals a direct f64 computation of the formula", "[calibrate]") {
  const std::uint64_t seed = test::fresh_seed();
  dense_preference_options unmasked, causal, custom;
  causal.causal = true;
  custom.top_fraction = 0.1;
  custom.last_queries = 5;
  const metric_case cases[] = {
      {{8, 2, 64}, 40, 300, unmasked},  // more queries than last_q, GQA group 4
      {{8, 2, 64}, 40, 300, causal},
      {{4, 4, 32}, 7, 7, causal},       // a whole short prompt, fewer queries than last_q
      {{4, 4, 32}, 12, 19, unmasked},   // under 1/alpha keys: top-0, P = 1
      {{6, 3, 32}, 33, 120, custom},
  };
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    check_against_f64<float>(cases[i], seed + i);
    check_against_f64<bf16>(cases[i], seed + 100 + i);
  }
  check_against_f64<f16>(cases[1], seed + 200);
}

TEST_CASE("dense_preference_score reads strided views", "[calibrate]") {
  const std::uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{4, 2, 32};
  const std::size_t n = 9, keys = 50, pad = 3;  // each token row padded by 3 extra heads
  const auto q = test::random_values<float>(rng, n * (4 + pad) * 32, 1.3f);
  const auto k = test::random_values<float>(rng, keys * (2 + pad) * 32, 1.3f);
  const tensor_view<const float, 3> qv(q.data(), {n, 4, 32}, {std::ptrdiff_t((4 + pad) * 32), 32, 1});
  const tensor_view<const float, 3> kv(k.data(), {keys, 2, 32}, {std::ptrdiff_t((2 + pad) * 32), 32, 1});
  std::vector<float> qc(n * 4 * 32), kc(keys * 2 * 32);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t h = 0; h < 4; ++h) std::copy_n(qv.row(i, h), 32, &qc[(i * 4 + h) * 32]);
  for (std::size_t t = 0; t < keys; ++t)
    for (std::size_t h = 0; h < 2; ++h) std::copy_n(kv.row(t, h), 32, &kc[(t * 2 + h) * 32]);
  REQUIRE(std::abs(dense_preference_score(qv, kv, shape) - f64_dense_preference(qc, kc, shape, n, keys, {})) <=
          test::dense_score_abs);
}

TEST_CASE("calibrate_tailorkv classifies dense and sparse synthetic layers", "[calibrate]") {
  const std::uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{8, 2, 128};
  const int num_layers = 6;
  const std::vector<bool> dense = test::random_dense_set(rng, num_layers);
  std::vector<support::synthetic_layer> layers;
  std::vector<dyn_view3> q, k;
  for (int l = 0; l < num_layers; ++l) {
    support::synthetic_options o;
    o.shape = shape;
    o.context = 1024 + std::uniform_int_distribution<std::size_t>(0, 1024)(rng);
    o.steps = 32;  // the last 32 prompt queries
    o.seed = rng();
    o.dense = dense[std::size_t(l)];
    o.heavy_strength = test::sparse_heavy_strength;
    o.heavy_fraction = test::sparse_heavy_fraction;
    layers.push_back(support::make_synthetic_layer(o));
  }
  for (const auto& w : layers) {
    q.push_back(tensor_view<const float, 3>(w.queries.data(), {w.options.steps, 8, 128}));
    k.push_back(tensor_view<const float, 3>(w.keys.data(), {w.tokens(), 2, 128}));
  }
  tailorkv_calibration_options opts;
  SECTION("TailorKV-2, long setting (defaults)") {}
  SECTION("TailorKV-1, short setting, causal metric") {
    opts.bits = 1;
    opts.setting = tailorkv_setting::short_context;
    opts.metric.causal = true;
  }
  const calibration_result r = calibrate_tailorkv(q, k, shape, opts, "synthetic");
  REQUIRE(r.plan.model == "synthetic");
  REQUIRE(r.plan.size() == num_layers);
  REQUIRE(r.plan.scores == r.scores);
  REQUIRE_NOTHROW(r.plan.validate_for(num_layers));
  const std::string quant = "quant:k=" + std::to_string(opts.bits) + ",v=" + std::to_string(opts.bits) + ",group=64,residual=128";
  const std::string sparse = opts.setting == tailorkv_setting::long_context ? "sparse:topk=896,sink=64,window=64,channels=12"
                                                                            : "sparse:topk=128,sink=8,window=56,channels=8";
  for (int l = 0; l < num_layers; ++l) {
    INFO("layer " << l << " dense " << dense[std::size_t(l)] << " P " << r.scores[std::size_t(l)]);
    REQUIRE(r.plan.layers[std::size_t(l)] == (dense[std::size_t(l)] ? quant : sparse));
    REQUIRE((r.scores[std::size_t(l)] > opts.tau) == dense[std::size_t(l)]);
    REQUIRE(r.scores[std::size_t(l)] == dense_preference_score(q[std::size_t(l)], k[std::size_t(l)], shape, opts.metric));
  }
}

TEST_CASE("calibration rejects bad options and shapes", "[calibrate]") {
  const layer_shape shape{4, 2, 32};
  std::vector<float> qd(3 * 4 * 32, 0.5f), kd(10 * 2 * 32, 0.25f);
  const tensor_view<const float, 3> q(qd.data(), {3, 4, 32}), k(kd.data(), {10, 2, 32});
  const dyn_view3 qs[] = {q}, ks[] = {k};
  for (double tau : {0.0, 1.0, -0.1, 1.5}) {
    tailorkv_calibration_options o;
    o.tau = tau;
    REQUIRE_THROWS_WITH(calibrate_tailorkv(qs, ks, shape, o), Catch::Contains("tau must be in (0, 1)"));
  }
  for (int bits : {0, 3, 4, 8}) {
    tailorkv_calibration_options o;
    o.bits = bits;
    REQUIRE_THROWS_WITH(calibrate_tailorkv(qs, ks, shape, o), Catch::Contains("bits must be 1 or 2"));
  }
  dense_preference_options m;
  m.top_fraction = 0;
  REQUIRE_THROWS_WITH(dense_preference_score(q, k, shape, m), Catch::Contains("top_fraction"));
  m = {};
  m.last_queries = 0;
  REQUIRE_THROWS_WITH(dense_preference_score(q, k, shape, m), Catch::Contains("last_queries"));
  // keys fewer than queries; wrong head counts name the argument
  REQUIRE_THROWS_WITH(dense_preference_score(q, tensor_view<const float, 3>(kd.data(), {5, 4, 32}), shape),
                      Catch::Contains("k: expected shape"));
  REQUIRE_THROWS_WITH(dense_preference_score(q, tensor_view<const float, 3>(kd.data(), {2, 2, 32}), shape),
                      Catch::Contains("only 2 keys"));
  REQUIRE_THROWS_WITH(dense_preference_score(q, k, layer_shape{8, 2, 32}), Catch::Contains("q: expected shape"));
  const dyn_view3 two[] = {q, q};
  REQUIRE_THROWS_WITH(calibrate_tailorkv(two, ks, shape), Catch::Contains("2 query tensors but 1 key tensors"));
  REQUIRE_THROWS_WITH(calibrate_tailorkv(std::span<const dyn_view3>{}, std::span<const dyn_view3>{}, shape),
                      Catch::Contains("no layers"));
}
