// The tailorkv:calibrate=1 policy: per layer it picks quantized or sparse-offload from its first
// prompt and then behaves exactly like that policy built directly; bad specs raise kvc::error.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "kvc/cache.hpp"
#include "kvc/policy/tailorkv.hpp"
#include "kvc_support/synthetic.hpp"
#include "plan_tolerances.hpp"
#include "support/random.hpp"

using namespace kvc;

namespace {

const layer_shape shape{8, 2, 128};
constexpr std::size_t hq = 8, hk = 2, dim = 128;

tensor_view<const float, 3> rows(const std::vector<float>& x, std::size_t first, std::size_t n, std::size_t heads) {
  return {x.data() + first * heads * dim, {n, heads, dim}};
}

std::vector<bf16> to_bf16_vec(const std::vector<float>& x) {
  std::vector<bf16> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = to_bf16(x[i]);
  return y;
}

/// A model of `dense.size()` synthetic layers; layer l dense iff dense[l]. The last `steps` + 32
/// queries of each layer are the prompt's last 32 queries followed by the decode queries.
std::vector<support::synthetic_layer> make_model(const std::vector<bool>& dense, std::size_t context, std::size_t steps,
                                               std::mt19937_64& rng) {
  std::vector<support::synthetic_layer> layers;
  for (bool d : dense) {
    support::synthetic_options o;
    o.shape = shape;
    o.context = context;
    o.steps = 32 + steps;
    o.seed = rng();
    o.dense = d;
    o.heavy_strength = test::sparse_heavy_strength;
    o.heavy_fraction = test::sparse_heavy_fraction;
    layers.push_back(support::make_synthetic_layer(o));
  }
  return layers;
}

void require_same(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  REQUIRE(worst <= test::composed_output_abs);
}

}  // namespace

TEST_CASE("tailorkv:calibrate=1 picks each layer's policy at prefill and then equals it", "[tailorkv]") {
  const std::uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const int num_layers = 4;
  const std::vector<bool> dense = test::random_dense_set(rng, num_layers);
  const std::size_t context = 1500 + std::uniform_int_distribution<std::size_t>(0, 500)(rng), steps = 6;
  const auto model = make_model(dense, context, steps, rng);
  // The prompt is positions [0, context + 32): random queries for all but the last 32, which
  // are the workload's (so the score sees the layer's real query structure).
  const std::size_t prompt = context + 32;

  std::string spec = "tailorkv:calibrate=1";
  std::string quant = "quant:k=2,v=2,group=64,residual=128", sparse = "sparse:topk=896,sink=64,window=64,channels=12";
  SECTION("defaults") {}
  SECTION("bits=1, short setting") {
    spec = "tailorkv:calibrate=1,bits=1,setting=short,tau=0.2";
    quant = "quant:k=1,v=1,group=64,residual=128";
    sparse = "sparse:topk=128,sink=8,window=56,channels=8";
  }
  kv_cache cache(spec, num_layers, shape);
  for (int l = 0; l < num_layers; ++l) {
    INFO("layer " << l << " dense " << dense[std::size_t(l)]);
    const auto& w = model[std::size_t(l)];
    auto* tkv = cache.policy_as<tailorkv_cache<bf16>>(l);
    REQUIRE(tkv != nullptr);
    REQUIRE(cache.spec(l) == spec);
    REQUIRE_FALSE(tkv->calibrated());
    const std::string expected = dense[std::size_t(l)] ? quant : sparse;
    auto direct = make_layer_cache(expected, shape);

    std::vector<float> q_prompt = test::random_values<float>(rng, prompt * hq * dim);
    std::copy_n(w.queries.begin(), 32 * hq * dim, q_prompt.begin() + std::ptrdiff_t(context * hq * dim));
    std::vector<float> out_a(prompt * hq * dim), out_b(prompt * hq * dim);
    cache.append_and_attend(l, rows(q_prompt, 0, prompt, hq), rows(w.keys, 0, prompt, hk), rows(w.values, 0, prompt, hk),
                            tensor_view<float, 3>(out_a.data(), {prompt, hq, dim}));
    direct->append_and_attend(rows(q_prompt, 0, prompt, hq), rows(w.keys, 0, prompt, hk), rows(w.values, 0, prompt, hk),
                              tensor_view<float, 3>(out_b.data(), {prompt, hq, dim}));
    REQUIRE(tkv->calibrated());
    INFO("P " << tkv->score());
    REQUIRE(tkv->chosen_spec() == expected);
    // the chosen cache is the concrete policy the spec names, composed in, not rebuilt from a string
    REQUIRE((tkv->chosen_as<tailorkv_cache<bf16>::quant_type>() != nullptr) == dense[std::size_t(l)]);
    REQUIRE((tkv->chosen_as<tailorkv_cache<bf16>::sparse_type>() != nullptr) == !dense[std::size_t(l)]);
    REQUIRE(tkv->score() == dense_preference_score(rows(q_prompt, context, 32, hq), rows(w.keys, 0, prompt, hk), shape));
    require_same(out_a, out_b);

    std::vector<float> step_a(hq * dim), step_b(hq * dim);
    for (std::size_t s = 0; s < steps; ++s) {
      const std::size_t pos = prompt + s;
      const auto qs = rows(w.queries, 32 + s, 1, hq);
      // the next-layer query prediction hook is forwarded (here: the true query as the hint)
      cache.prefetch_hint(l, qs);
      direct->prefetch_hint(qs);
      cache.append_and_attend(l, qs, rows(w.keys, pos, 1, hk), rows(w.values, pos, 1, hk),
                              tensor_view<float, 3>(step_a.data(), {1, hq, dim}));
      direct->append_and_attend(qs, rows(w.keys, pos, 1, hk), rows(w.values, pos, 1, hk),
                                tensor_view<float, 3>(step_b.data(), {1, hq, dim}));
      require_same(step_a, step_b);
      const auto pa = cache.attended_positions(l, 1);
      REQUIRE(pa.has_value());
      if (const auto pb = direct->attended_positions(1)) REQUIRE(*pa == *pb);
      else REQUIRE(pa->size() == pos);  // attends everything held before the step
    }
    REQUIRE(cache.size(l) == direct->size());
    REQUIRE(cache.footprint(l) == direct->footprint());
    REQUIRE(cache.traffic(l) == direct->traffic());
    if (!dense[std::size_t(l)]) REQUIRE(cache.traffic(l).host_to_device > 0);  // the sparse layer fetched rows

    cache.clear();
    REQUIRE(cache.size(l) == 0);
    REQUIRE(tkv->chosen_spec() == expected);  // the choice survives clear()
  }
}

TEST_CASE("tailorkv stages appended tokens until the first query, then replays them", "[tailorkv]") {
  const std::uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const bool dense = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
  INFO("dense " << dense);
  const std::size_t context = 1200 + std::uniform_int_distribution<std::size_t>(0, 800)(rng), steps = 4;
  const auto model = make_model({dense}, context, steps, rng);
  const auto& w = model[0];
  const auto keys = to_bf16_vec(w.keys), values = to_bf16_vec(w.values);
  const auto q = to_bf16_vec(w.queries);
  const auto view = [&](const std::vector<bf16>& x, std::size_t first, std::size_t n, std::size_t heads) {
    return tensor_view<const bf16, 3>(x.data() + first * heads * dim, {n, heads, dim});
  };

  auto tkv = make_layer_cache("tailorkv:calibrate=1,bits=1", shape);
  REQUIRE(tkv->as<tailorkv_cache<float>>() == nullptr);  // typed: the wrong type is refused
  auto& policy = *tkv->as<tailorkv_cache<bf16>>();
  std::size_t t = 0, staged_bytes = 0;
  std::vector<std::size_t> chunks;
  while (t < context) {  // uneven chunks, as an engine loading a prefix might
    const std::size_t n = std::min(context - t, std::uniform_int_distribution<std::size_t>(1, 700)(rng));
    chunks.push_back(n);
    tkv->append(view(keys, t, n, hk), view(values, t, n, hk));
    t += n;
    staged_bytes += 2 * n * hk * dim * sizeof(bf16);
    REQUIRE(tkv->size() == t);
    REQUIRE(tkv->footprint() == memory_footprint{staged_bytes, 0, 0});
  }
  REQUIRE_FALSE(policy.calibrated());

  // The first decode query calibrates against every staged key plus its own.
  std::vector<float> out(hq * dim);
  tkv->append_and_attend(view(q, 32, 1, hq), view(keys, context, 1, hk), view(values, context, 1, hk),
                         tensor_view<float, 3>(out.data(), {1, hq, dim}));
  REQUIRE(policy.calibrated());
  const double p = dense_preference_score(view(q, 32, 1, hq), view(keys, 0, context + 1, hk), shape);
  INFO("P " << p);
  REQUIRE(policy.score() == p);
  REQUIRE(policy.chosen_spec() == (p > tailorkv_tau ? "quant:k=1,v=1,group=64,residual=128"
                                                    : "sparse:topk=896,sink=64,window=64,channels=12"));
  REQUIRE((p > tailorkv_tau) == dense);

  // The chosen policy built directly and fed the same calls gives the same outputs.
  auto direct = make_layer_cache(policy.chosen_spec(), shape);
  t = 0;
  for (std::size_t n : chunks) {
    direct->append(view(keys, t, n, hk), view(values, t, n, hk));
    t += n;
  }
  std::vector<float> ref(hq * dim);
  direct->append_and_attend(view(q, 32, 1, hq), view(keys, context, 1, hk), view(values, context, 1, hk),
                            tensor_view<float, 3>(ref.data(), {1, hq, dim}));
  require_same(out, ref);
  for (std::size_t s = 1; s < steps; ++s) {
    const std::size_t pos = context + s;
    tkv->append_and_attend(view(q, 32 + s, 1, hq), view(keys, pos, 1, hk), view(values, pos, 1, hk),
                           tensor_view<float, 3>(out.data(), {1, hq, dim}));
    direct->append_and_attend(view(q, 32 + s, 1, hq), view(keys, pos, 1, hk), view(values, pos, 1, hk),
                              tensor_view<float, 3>(ref.data(), {1, hq, dim}));
    require_same(out, ref);
  }
  REQUIRE(tkv->footprint() == direct->footprint());
  REQUIRE(tkv->traffic() == direct->traffic());
}

TEST_CASE("tailorkv specs with bad options raise kvc::error naming the option", "[tailorkv]") {
  const auto err = [](const char* spec) {
    try {
      make_layer_cache(spec, shape);
    } catch (const kvc::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  using Catch::Contains;
  CHECK_THAT(err("tailorkv"), Contains("needs calibrate=1"));
  CHECK_THAT(err("tailorkv:calibrate=0"), Contains("needs calibrate=1"));
  CHECK_THAT(err("tailorkv:calibrate=1,tau=0"), Contains("tau must be in (0, 1)"));
  CHECK_THAT(err("tailorkv:calibrate=1,tau=1"), Contains("tau must be in (0, 1)"));
  CHECK_THAT(err("tailorkv:calibrate=1,tau=1.5"), Contains("tau must be in [0, 1]"));
  CHECK_THAT(err("tailorkv:calibrate=1,tau=-0.2"), Contains("tau must be in [0, 1]"));
  CHECK_THAT(err("tailorkv:calibrate=1,tau=abc"), Contains("tau must be a number"));
  CHECK_THAT(err("tailorkv:calibrate=1,bits=3"), Contains("bits must be one of {1, 2}, got 3"));
  CHECK_THAT(err("tailorkv:calibrate=1,bits=4"), Contains("bits must be one of {1, 2}"));
  CHECK_THAT(err("tailorkv:calibrate=1,setting=medium"), Contains("setting must be long or short"));
  CHECK_THAT(err("tailorkv:calibrate=1,budget=1024"), Contains("unknown option 'budget'"));
  CHECK_THAT(err("tailorkv:plan=plan.json"), Contains("write plan:FILE"));
  CHECK_THAT(err("plan:plan.json"), Contains("kvc::io::resolve_plan"));
  CHECK(err("tailorkv:calibrate=1,bits=1,tau=0.35,setting=short,causal=1") == "no error");
  // a list of specs splits at tailorkv too
  REQUIRE(split_policy_list("full:bf16,tailorkv:calibrate=1,bits=1,sparse:topk=64") ==
          std::vector<std::string>{"full:bf16", "tailorkv:calibrate=1,bits=1", "sparse:topk=64"});
}

TEST_CASE("tailorkv forwards nothing before calibration and reports staged bytes", "[tailorkv]") {
  tailorkv_cache<bf16> c(shape);
  REQUIRE(c.size() == 0);
  REQUIRE(c.footprint() == memory_footprint{});
  REQUIRE(c.traffic() == transfer_traffic{});
  REQUIRE_FALSE(c.calibrated());
  REQUIRE(c.chosen_as<tailorkv_cache<bf16>::quant_type>() == nullptr);
  REQUIRE(c.chosen_spec().empty());
  REQUIRE(std::isnan(c.score()));
  REQUIRE(c.attended_positions(0).empty());
  REQUIRE_THROWS_WITH(c.attended_positions(2), Catch::Contains("kv_head 2 out of range [0, 2)"));
  std::vector<float> pq(hq * dim, 1.0f);
  REQUIRE_NOTHROW(c.prefetch_hint(tensor_view<const float, 3>(pq.data(), {1, hq, dim})));  // ignored
  // wrong shapes are still rejected before calibration
  std::vector<float> k(3 * 4 * dim, 0.0f);
  REQUIRE_THROWS_WITH(c.append(tensor_view<const float, 3>(k.data(), {3, 4, dim}), tensor_view<const float, 3>(k.data(), {3, 4, dim})),
                      Catch::Contains("k: expected shape"));
}
