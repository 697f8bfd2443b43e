// The runtime kv_cache: built from specs and plans, per-layer routing, accounting, errors.
#include <catch2/catch.hpp>

#include <random>
#include <span>
#include <vector>

#include "kvc/attention/reference.hpp"
#include "kvc/cache.hpp"
#include "support/compare.hpp"
#include "support/random.hpp"
#include "support/tolerances.hpp"

using namespace kvc;

TEST_CASE("policy specs parse into names, arguments and options", "[spec]") {
  const auto s = policy_spec::parse("quant:k=2,v=4,group=64,rotate");
  REQUIRE(s.name == "quant");
  REQUIRE(s.args == std::vector<std::string>{"rotate"});
  REQUIRE(s.options.size() == 3);
  REQUIRE(s.options[1] == std::pair<std::string, std::string>{"v", "4"});
  REQUIRE_THROWS_WITH(policy_spec::parse(":x"), Catch::Contains("missing policy name"));
  REQUIRE_THROWS_WITH(policy_spec::parse("quant:k=2,,v=2"), Catch::Contains("empty item"));
  REQUIRE_THROWS_WITH(policy_spec::parse("quant:k=2,k=4"), Catch::Contains("'k' given twice"));
  REQUIRE_THROWS_WITH(policy_spec::parse("quant:k="), Catch::Contains("key=value"));
}

TEST_CASE("spec_reader checks ranges and rejects unknown options", "[spec]") {
  const auto s = policy_spec::parse("x:a=5,b=oops,c=1");
  spec_reader r(s);
  REQUIRE(r.integer("a", 0, 0, 10) == 5);
  REQUIRE_THROWS_WITH(r.integer("b", 0, 0, 10), Catch::Contains("b must be an integer"));
  REQUIRE_THROWS_WITH(spec_reader(s).integer("a", 0, 6, 10), Catch::Contains("a must be in [6, 10], got 5"));
  REQUIRE_THROWS_WITH(spec_reader(s).one_of("a", 0, {1, 2, 4, 8}), Catch::Contains("one of {1, 2, 4, 8}"));
  REQUIRE_THROWS_WITH(r.finish(), Catch::Contains("unknown option 'c'"));
}

TEST_CASE("kv_cache builds every layer from its spec and rejects bad ones", "[cache]") {
  const layer_shape shape{8, 2, 64};
  kv_cache cache(cache_plan{"m", {"full:f32", "full:bf16", "full:f16"}, {}}, shape);
  REQUIRE(cache.layers() == 3);
  REQUIRE(cache.spec(1) == "full:bf16");
  REQUIRE(cache.policy_as<full_cache<bf16>>(1) != nullptr);
  REQUIRE(cache.policy_as<full_cache<float>>(1) == nullptr);
  REQUIRE_THROWS_WITH(kv_cache("full:int4", 2, shape), Catch::Contains("unknown dtype 'int4'"));
  REQUIRE_THROWS_WITH(kv_cache("nope:x=1", 2, shape), Catch::Contains("unknown policy 'nope'"));
  REQUIRE_THROWS_WITH(kv_cache("full:bf16,page=0", 2, shape), Catch::Contains("page must be in"));
  REQUIRE_THROWS_WITH(kv_cache("full:bf16,size=3", 2, shape), Catch::Contains("unknown option 'size'"));
  REQUIRE_THROWS_WITH(kv_cache(cache_plan{"m", {"full:bf16", "full:x"}, {}}, shape), Catch::Contains("layer 1"));
  REQUIRE_THROWS_WITH(kv_cache("full:bf16", 0, shape), Catch::Contains("at least one layer"));
  REQUIRE_THROWS_WITH(kv_cache("full:bf16", 2, {8, 0, 64}), Catch::Contains("kv_heads must be positive"));
  REQUIRE_THROWS_WITH(cache.size(3), Catch::Contains("layer 3 out of range"));
}

TEST_CASE("kv_cache routes each layer to its own storage", "[cache]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{4, 2, 32};
  kv_cache cache("full:f32", 2, shape);
  const std::size_t n = 20;
  std::vector<std::vector<float>> q, k, v;
  for (int l = 0; l < 2; ++l) {
    q.push_back(test::random_values<float>(rng, n * 4 * 32));
    k.push_back(test::random_values<float>(rng, n * 2 * 32));
    v.push_back(test::random_values<float>(rng, n * 2 * 32));
  }
  std::vector<float> out(n * 4 * 32);
  for (int l = 0; l < 2; ++l) {
    cache.append_and_attend(l, tensor_view<const float, 3>(q[l].data(), {n, 4, 32}),
                            tensor_view<const float, 3>(k[l].data(), {n, 2, 32}),
                            tensor_view<const float, 3>(v[l].data(), {n, 2, 32}),
                            tensor_view<float, 3>(out.data(), {n, 4, 32}));
    const auto exact = attention_reference(tensor_view<const float, 3>(q[l].data(), {n, 4, 32}),
                                           tensor_view<const float, 3>(k[l].data(), {n, 2, 32}),
                                           tensor_view<const float, 3>(v[l].data(), {n, 2, 32}), shape, 0);
    REQUIRE(test::relative_error(std::span<const float>(out), std::span<const double>(exact)) <= test::attention_f32_rel);
  }
  REQUIRE(cache.size(0) == n);
  REQUIRE(cache.size(1) == n);
  REQUIRE(cache.footprint().device_bytes == 2 * cache.footprint(0).device_bytes);
  cache.clear();
  REQUIRE(cache.size(0) == 0);
}
