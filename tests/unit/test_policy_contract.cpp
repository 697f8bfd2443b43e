// The layer-cache contract, checked the same way for every policy: the library's and a custom one registered from outside.
#include <algorithm>
#include <cmath>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "kvc/kvc.hpp"
#include "policy_cases.hpp"
#include "support/random.hpp"

namespace {

using namespace kvc;
using namespace policy_cases;
using Catch::Matchers::Contains;

/// The registry's cache for the case's spec, checked to be the concrete type the case names.
template <class P>
std::unique_ptr<layer_cache> make(const policy_case<P>& c) {
  REQUIRE(streaming_registered);
  auto cache = make_layer_cache(c.spec, shape);
  REQUIRE(cache->template as<P>() != nullptr);
  REQUIRE(cache->spec() == c.spec);
  return cache;
}

/// Prefills tokens [0, prompt) in one step, then decodes [prompt, end) one token a step; returns
/// every output row of the decode steps.
std::vector<float> prefill_then_decode(layer_cache& c, const activations& a, std::size_t prompt, std::size_t end) {
  std::vector<float> prefill_out(prompt * a.hq * a.d), outs;
  c.append_and_attend(a.qv(0, prompt), a.kv(0, prompt), a.vv(0, prompt), tensor_view<float, 3>(prefill_out.data(), {prompt, a.hq, a.d}));
  std::vector<float> out(a.hq * a.d);
  for (std::size_t t = prompt; t < end; ++t) {
    c.append_and_attend(a.qv(t, 1), a.kv(t, 1), a.vv(t, 1), tensor_view<float, 3>(out.data(), {1, a.hq, a.d}));
    outs.insert(outs.end(), out.begin(), out.end());
  }
  return outs;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("contract: the registry builds every policy by its spec, custom ones included", "[contract]",
                        all_policies) {
  const auto c = case_of<TestType>();
  const auto cache = make(c);
  REQUIRE(cache->size() == 0);
  REQUIRE(cache->shape() == shape);
  REQUIRE(cache->traffic() == transfer_traffic{});
  const auto names = registered_policies();
  const std::string name = c.spec.substr(0, c.spec.find(':'));
  REQUIRE(std::find(names.begin(), names.end(), name) != names.end());
  // kv_cache from a spec, and from caller-made layer caches
  kv_cache by_spec(c.spec, 2, shape);
  REQUIRE(by_spec.policy_as<TestType>(1) != nullptr);
  std::vector<std::unique_ptr<layer_cache>> layers;
  layers.push_back(make_layer_cache(c.spec, shape));
  layers.push_back(make_layer_cache("full:f32", shape));
  kv_cache by_layers(std::move(layers));
  REQUIRE(by_layers.layers() == 2);
  REQUIRE(by_layers.layer(0).as<TestType>() != nullptr);
  REQUIRE(by_layers.layer(1).as<full_cache<float>>() != nullptr);
}

TEMPLATE_LIST_TEST_CASE("contract: a step of n = 0 tokens changes nothing", "[contract]", all_policies) {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed << ", spec " << case_of<TestType>().spec);
  std::mt19937_64 rng(seed);
  const activations a(rng, 61);
  auto c = make(case_of<TestType>());
  auto twin = make(case_of<TestType>());
  const std::size_t prompt = 60;
  std::vector<float> scratch(prompt * a.hq * a.d);
  for (auto* x : {c.get(), twin.get()})
    x->append_and_attend(a.qv(0, prompt), a.kv(0, prompt), a.vv(0, prompt), tensor_view<float, 3>(scratch.data(), {prompt, a.hq, a.d}));
  const memory_footprint f = c->footprint();
  const transfer_traffic t = c->traffic();
  std::vector<float> sentinel(4, 7.0f);
  c->append_and_attend(a.qv(0, 0), a.kv(0, 0), a.vv(0, 0), tensor_view<float, 3>(sentinel.data(), {0, a.hq, a.d}));
  c->append(a.kv(0, 0), a.vv(0, 0));
  REQUIRE(c->size() == held_after<TestType>(prompt));
  REQUIRE(c->footprint() == f);
  REQUIRE(c->traffic() == t);
  REQUIRE(sentinel == std::vector<float>(4, 7.0f));
  // the next real step is the twin's, bit for bit
  std::vector<float> out(a.hq * a.d), out_twin(a.hq * a.d);
  c->append_and_attend(a.qv(prompt, 1), a.kv(prompt, 1), a.vv(prompt, 1), tensor_view<float, 3>(out.data(), {1, a.hq, a.d}));
  twin->append_and_attend(a.qv(prompt, 1), a.kv(prompt, 1), a.vv(prompt, 1), tensor_view<float, 3>(out_twin.data(), {1, a.hq, a.d}));
  REQUIRE(out == out_twin);
}

TEMPLATE_LIST_TEST_CASE("contract: append then decode equals prefill then decode", "[contract]", all_policies) {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed << ", spec " << case_of<TestType>().spec);
  std::mt19937_64 rng(seed);
  const std::size_t prompt = 70, end = 90;
  const activations a(rng, end);
  auto stepped = make(case_of<TestType>());
  const std::vector<float> want = prefill_then_decode(*stepped, a, prompt, end);
  auto appended = make(case_of<TestType>());
  // the prompt in uneven chunks, stored without attending
  for (std::size_t t = 0; t < prompt;) {
    const std::size_t n = std::min<std::size_t>(prompt - t, 1 + t % 23);
    appended->append(a.kv(t, n), a.vv(t, n));
    t += n;
  }
  REQUIRE(appended->size() == held_after<TestType>(prompt));
  std::vector<float> got, out(a.hq * a.d);
  for (std::size_t t = prompt; t < end; ++t) {
    appended->append_and_attend(a.qv(t, 1), a.kv(t, 1), a.vv(t, 1), tensor_view<float, 3>(out.data(), {1, a.hq, a.d}));
    got.insert(got.end(), out.begin(), out.end());
  }
  REQUIRE(appended->size() == held_after<TestType>(end));
  REQUIRE(stepped->size() == held_after<TestType>(end));
  REQUIRE(got == want);
}

TEMPLATE_LIST_TEST_CASE("contract: a whole-prompt prefill is exact", "[contract]", all_policies) {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed << ", spec " << case_of<TestType>().spec);
  std::mt19937_64 rng(seed);
  const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 90)(rng);
  const activations a(rng, n);
  auto c = make(case_of<TestType>());
  std::vector<float> out(n * a.hq * a.d);
  c->append_and_attend(a.qv(0, n), a.kv(0, n), a.vv(0, n), tensor_view<float, 3>(out.data(), {n, a.hq, a.d}));
  REQUIRE(c->size() == held_after<TestType>(n));
  const auto ref = attention_reference(a.qv(0, n), a.kv(0, n), a.vv(0, n), shape, 0);
  double worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(double(out[i]) - ref[i]) / (1.0 + std::abs(ref[i])));
  INFO("n " << n << ", worst " << worst);
  REQUIRE(worst <= exact_prefill_tol);
}

TEMPLATE_LIST_TEST_CASE("contract: clear() drops every token and the cache runs again as new", "[contract]", all_policies) {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed << ", spec " << case_of<TestType>().spec);
  std::mt19937_64 rng(seed);
  const activations a(rng, 80);
  auto c = make(case_of<TestType>());
  const std::vector<float> first = prefill_then_decode(*c, a, 50, 80);
  c->clear();
  REQUIRE(c->size() == 0);
  REQUIRE(c->traffic() == transfer_traffic{});
  const std::vector<float> again = prefill_then_decode(*c, a, 50, 80);
  REQUIRE(again == first);
  auto fresh = make(case_of<TestType>());
  REQUIRE(prefill_then_decode(*fresh, a, 50, 80) == first);
  REQUIRE(c->traffic() == fresh->traffic());
}

TEMPLATE_LIST_TEST_CASE("contract: footprint() counts the bytes the policy holds", "[contract]", all_policies) {
  static_assert(reports_allocated_bytes<TestType>, "every policy here reports its containers' bytes");
  const auto seed = test::fresh_seed();
  INFO("seed " << seed << ", spec " << case_of<TestType>().spec);
  std::mt19937_64 rng(seed);
  const activations a(rng, 90);
  auto c = make(case_of<TestType>());
  const TestType& p = *c->template as<TestType>();
  REQUIRE(c->footprint().total() == p.allocated_bytes());
  for (std::size_t t = 0; t < 90; ++t) {  // one token a step through every stage
    std::vector<float> out(a.hq * a.d);
    c->append_and_attend(a.qv(t, 1), a.kv(t, 1), a.vv(t, 1), tensor_view<float, 3>(out.data(), {1, a.hq, a.d}));
    const memory_footprint f = c->footprint();
    INFO("after token " << t);
    REQUIRE(f.total() == p.allocated_bytes());
    REQUIRE(f.total() > 0);
    REQUIRE(f.metadata_bytes <= f.total());
    REQUIRE(f.reserved_bytes <= f.device_bytes);
  }
}

TEMPLATE_LIST_TEST_CASE("contract: bad calls raise kvc::error naming the problem and change nothing", "[contract]",
                        all_policies) {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed << ", spec " << case_of<TestType>().spec);
  std::mt19937_64 rng(seed);
  const activations a(rng, 40);
  auto c = make(case_of<TestType>());
  std::vector<float> out(40 * a.hq * a.d);
  const auto outv = [&](std::size_t n) { return tensor_view<float, 3>(out.data(), {n, a.hq, a.d}); };
  c->append_and_attend(a.qv(0, 30), a.kv(0, 30), a.vv(0, 30), outv(30));
  const memory_footprint f = c->footprint();
  const auto unchanged = [&] {
    REQUIRE(c->size() == held_after<TestType>(30));
    REQUIRE(c->footprint() == f);
  };
  // q with the KV head count
  REQUIRE_THROWS_WITH(c->append_and_attend(tensor_view<const float, 3>(a.q.data(), {1, a.hk, a.d}), a.kv(30, 1), a.vv(30, 1), outv(1)),
                      Contains("q: expected shape [n, q_heads, head_dim] = [1, 8, 32], got [1, 2, 32]"));
  unchanged();
  // k and v of different lengths
  REQUIRE_THROWS_WITH(c->append(a.kv(30, 2), a.vv(30, 1)), Contains("v: expected shape"));
  unchanged();
  // k and v of different dtypes
  const std::vector<bf16> v16 = test::random_values<bf16>(rng, a.hk * a.d);
  REQUIRE_THROWS_WITH(c->append(a.kv(30, 1), tensor_view<const bf16, 3>(v16.data(), {1, a.hk, a.d})),
                      Contains("k and v must have the same dtype, got f32 and bf16"));
  unchanged();
  // device memory handed to a CPU cache
  REQUIRE_THROWS_WITH(c->append_and_attend(a.qv(30, 1).in(memory_space::device), a.kv(30, 1), a.vv(30, 1), outv(1)),
                      Contains("q is in device memory") && Contains("runs on the CPU"));
  REQUIRE_THROWS_WITH(c->append(a.kv(30, 1), a.vv(30, 1).in(memory_space::device)), Contains("v is in device memory"));
  REQUIRE_THROWS_WITH(c->append_and_attend(a.qv(30, 1), a.kv(30, 1), a.vv(30, 1), outv(1).in(memory_space::device)),
                      Contains("out is in device memory"));
  unchanged();
  // pinned host memory is host memory
  c->append_and_attend(a.qv(30, 1).in(memory_space::pinned_host), a.kv(30, 1).in(memory_space::pinned_host),
                       a.vv(30, 1).in(memory_space::pinned_host), outv(1).in(memory_space::pinned_host));
  REQUIRE(c->size() == held_after<TestType>(31));
}

TEST_CASE("registry: unknown, reserved and repeated names are clear errors", "[contract]") {
  REQUIRE(streaming_registered);
  REQUIRE_THROWS_WITH(make_layer_cache("nope:x=1", shape),
                      Contains("unknown policy 'nope'") && Contains("full, quant, sparse, streaming, tailorkv") &&
                          Contains("plan:FILE"));
  REQUIRE_THROWS_WITH(make_layer_cache("plan:some.json", shape), Contains("kvc::io::resolve_plan"));
  REQUIRE_THROWS_WITH(register_policy("streaming", [](const policy_spec&, const layer_shape&) {
                        return std::unique_ptr<layer_cache>();
                      }),
                      Contains("a policy named 'streaming' is already registered"));
  REQUIRE_THROWS_WITH(register_policy("plan", [](const policy_spec&, const layer_shape&) { return std::unique_ptr<layer_cache>(); }),
                      Contains("reserved"));
  REQUIRE_THROWS_WITH(register_policy("a b", [](const policy_spec&, const layer_shape&) { return std::unique_ptr<layer_cache>(); }),
                      Contains("must be a non-empty word"));
  REQUIRE_THROWS_WITH(register_policy("empty", nullptr), Contains("factory of 'empty' is empty"));
  // a factory that returns nothing is caught where the cache is built
  register_policy("returns_null", [](const policy_spec&, const layer_shape&) { return std::unique_ptr<layer_cache>(); });
  REQUIRE_THROWS_WITH(make_layer_cache("returns_null", shape), Contains("policy spec 'returns_null': the factory returned no cache"));
  // registered names split policy lists like the built-in ones
  REQUIRE(split_policy_list("streaming:sink=2,window=4,full:bf16;plan:a.json") ==
          std::vector<std::string>{"streaming:sink=2,window=4", "full:bf16", "plan:a.json"});
  // kv_cache from caller-made layers checks them
  std::vector<std::unique_ptr<layer_cache>> mixed;
  mixed.push_back(make_layer_cache("full:f32", shape));
  mixed.push_back(make_layer_cache("full:f32", layer_shape{4, 2, 32}));
  REQUIRE_THROWS_WITH(kv_cache(std::move(mixed)), Contains("layer 1: shape {4, 2, 32} differs from layer 0's {8, 2, 32}"));
  REQUIRE_THROWS_WITH(kv_cache(std::vector<std::unique_ptr<layer_cache>>{}), Contains("at least one layer cache"));
}
