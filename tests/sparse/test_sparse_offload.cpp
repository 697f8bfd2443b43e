// The sparse-offload policy: exactness when everything is selected, traffic and footprint accounting, prefetch, bad input.
#include <catch2/catch.hpp>

#include <random>
#include <span>
#include <vector>

#include "kvc/attention/reference.hpp"
#include "kvc/cache.hpp"
#include "kvc/policy/full.hpp"
#include "kvc/policy/sparse.hpp"
#include "sparse/sparse_tolerances.hpp"
#include "support/compare.hpp"
#include "support/random.hpp"

using namespace kvc;

namespace {

struct sequence {
  std::size_t hq, hk, d, total;
  std::vector<float> q, k, v;
  sequence(std::mt19937_64& rng, const layer_shape& s, std::size_t tokens)
      : hq(std::size_t(s.q_heads)), hk(std::size_t(s.kv_heads)), d(std::size_t(s.head_dim)), total(tokens),
        q(test::random_values<float>(rng, tokens * hq * d)), k(test::random_values<float>(rng, tokens * hk * d)),
        v(test::random_values<float>(rng, tokens * hk * d)) {}
  tensor_view<const float, 3> qv(std::size_t a, std::size_t n) const { return {q.data() + a * hq * d, {n, hq, d}}; }
  tensor_view<const float, 3> kv(std::size_t a, std::size_t n) const { return {k.data() + a * hk * d, {n, hk, d}}; }
  tensor_view<const float, 3> vv(std::size_t a, std::size_t n) const { return {v.data() + a * hk * d, {n, hk, d}}; }
};

/// Runs chunks then single steps through `cache`, returning all outputs `[total, q_heads, head_dim]`.
template <class Cache>
std::vector<float> run(Cache& cache, const sequence& s, std::initializer_list<std::size_t> chunks) {
  std::vector<float> out(s.total * s.hq * s.d);
  std::size_t pos = 0;
  auto step = [&](std::size_t n) {
    cache.append_and_attend(s.qv(pos, n), s.kv(pos, n), s.vv(pos, n),
                            tensor_view<float, 3>(out.data() + pos * s.hq * s.d, {n, s.hq, s.d}));
    pos += n;
  };
  for (std::size_t n : chunks) step(n);
  while (pos < s.total) step(1);
  return out;
}

}  // namespace

TEST_CASE("with topk covering the host tier, sparse equals full and the f64 oracle", "[sparse]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{8, 2, 64};
  const sequence s(rng, shape, 300);
  for (auto sel : {sparse_selector::exact, sparse_selector::channels, sparse_selector::pages}) {
    sparse_options o;
    o.topk = 1000;
    o.sink = 5;
    o.window = 7;
    o.channels = 8;
    o.selector = sel;
    o.storage = dtype::f32;
    sparse_cache<float> sparse(shape, o);
    full_cache<float> full(shape, {dtype::f32, 64});
    const auto a = run(sparse, s, {100, 57});
    const auto b = run(full, s, {100, 57});
    REQUIRE(test::relative_error(std::span<const float>(a), std::span<const float>(b)) <= test::sparse_all_selected_rel);
    const auto exact = attention_reference(s.qv(0, s.total), s.kv(0, s.total), s.vv(0, s.total), shape, 0);
    REQUIRE(test::relative_error(std::span<const float>(a), std::span<const double>(exact)) <= test::sparse_vs_oracle_rel);
    REQUIRE(sparse.size() == s.total);
    REQUIRE(sparse.resident_tokens() == 12);
    REQUIRE(sparse.host_tokens() == s.total - 12);
    // the last decode step attended every earlier position
    const auto pos = sparse.attended_positions(1);
    REQUIRE(pos.size() == s.total - 1);
  }
}

TEST_CASE("bf16 storage with every token selected matches full bf16", "[sparse]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{4, 2, 32};
  const sequence s(rng, shape, 200);
  sparse_options o;
  o.topk = 500;
  o.sink = 3;
  o.window = 9;
  sparse_cache<bf16> sparse(shape, o);
  full_cache<bf16> full(shape);
  const auto a = run(sparse, s, {64});
  const auto b = run(full, s, {64});
  REQUIRE(test::relative_error(std::span<const float>(a), std::span<const float>(b)) <= test::sparse_all_selected_rel);
}

TEST_CASE("traffic() is exactly the bytes each step moves", "[sparse]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{8, 2, 32};
  const std::size_t hk = 2, d = 32, sink = 4, window = 6, topk = 20, ds = 5, page = 8;
  const sequence s(rng, shape, 260);
  for (auto sel : {sparse_selector::channels, sparse_selector::exact, sparse_selector::pages}) {
    for (dtype storage : {dtype::bf16, dtype::f32}) {
      INFO("selector " << int(sel) << " storage " << dtype_name(storage));
      sparse_options o;
      o.topk = topk;
      o.sink = sink;
      o.window = window;
      o.channels = ds;
      o.page = page;
      o.selector = sel;
      o.storage = storage;
      auto cache = make_layer_cache(std::string("sparse:dtype=") + std::string(dtype_name(storage)), shape);  // registry builds
      REQUIRE(cache->traffic().total() == 0);
      visit_dtype(storage, [&](auto tag) {
        using T = decltype(tag);
        const std::size_t e = sizeof(T);
        sparse_cache<T> c(shape, o);
        // load a prefix without attending: everything beyond sink + window crosses device->host once
        const std::size_t prefix = 100;
        c.append(s.kv(0, prefix), s.vv(0, prefix));
        REQUIRE(c.traffic().host_to_device == 0);
        REQUIRE(c.traffic().device_to_host == (prefix - sink - window) * 2 * hk * d * e);
        std::vector<float> out(s.hq * d);
        for (std::size_t pos = prefix; pos < s.total; ++pos) {
          const std::size_t held = pos, h = held > sink + window ? held - sink - window : 0;
          REQUIRE(c.host_tokens() == h);
          const std::size_t K = std::min(topk, h);
          std::size_t scoring = 0;
          if (K < h) {
            if (sel == sparse_selector::channels) scoring = ds * h * e;
            if (sel == sparse_selector::exact) scoring = h * d * e;
            if (sel == sparse_selector::pages) scoring = (h + page - 1) / page * 2 * d * sizeof(float);
          }
          const std::size_t h2d = hk * (scoring + 2 * K * d * e);
          const std::size_t d2h = held >= sink + window ? 2 * hk * d * e : 0;
          const auto before = c.traffic();
          c.append_and_attend(s.qv(pos, 1), s.kv(pos, 1), s.vv(pos, 1), tensor_view<float, 3>(out.data(), {1, s.hq, d}));
          const auto after = c.traffic();
          REQUIRE(after.host_to_device - before.host_to_device == h2d);
          REQUIRE(after.device_to_host - before.device_to_host == d2h);
          // the budget holds: exactly K host tokens plus the resident ones, all distinct
          for (std::size_t kh = 0; kh < hk; ++kh) {
            auto p = c.attended_positions(kh);
            REQUIRE(p.size() == std::min(held, sink) + std::min(window, held - std::min(held, sink)) + K);
            std::sort(p.begin(), p.end());
            REQUIRE(std::adjacent_find(p.begin(), p.end()) == p.end());
            REQUIRE(p.back() < held);
          }
        }
        // a prefill chunk reads every host row in place, and offloads what leaves the window
        const std::size_t h = c.host_tokens(), n = 3;
        const auto before = c.traffic();
        std::vector<float> out3(n * s.hq * d);
        c.append_and_attend(s.qv(0, n), s.kv(0, n), s.vv(0, n), tensor_view<float, 3>(out3.data(), {n, s.hq, d}));
        REQUIRE(c.traffic().host_to_device - before.host_to_device == h * 2 * hk * d * e);
        REQUIRE(c.traffic().device_to_host - before.device_to_host == n * 2 * hk * d * e);
        c.clear();
        REQUIRE(c.traffic().total() == 0);
        REQUIRE(c.size() == 0);
        REQUIRE(c.footprint().host_bytes == 0);
      });
    }
  }
}

TEST_CASE("device bytes stay constant over a 10,000-step generation", "[sparse]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{4, 2, 16};
  const std::size_t steps = 10000;
  const auto q = test::random_values<bf16>(rng, 4 * 16);
  const auto kv = test::random_values<bf16>(rng, steps * 2 * 16);
  sparse_cache<bf16> c(shape, policy_spec::parse("sparse:topk=32,sink=4,window=8,channels=4").name == "sparse"
                                          ? sparse_options::from_spec(policy_spec::parse("sparse:topk=32,sink=4,window=8,channels=4"))
                                          : sparse_options{});
  std::vector<float> out(4 * 16);
  std::size_t device = 0, host_prev = 0;
  for (std::size_t i = 0; i < steps; ++i) {
    const tensor_view<const bf16, 3> k(kv.data() + i * 2 * 16, {1, 2, 16});
    c.append_and_attend(tensor_view<const bf16, 3>(q.data(), {1, 4, 16}), k, k, tensor_view<float, 3>(out.data(), {1, 4, 16}));
    const auto f = c.footprint();
    if (i == 4 + 8 + 32 + 1) device = f.device_bytes;  // warm-up done: the gather buffer holds topk
    if (i > 4 + 8 + 32 + 1) REQUIRE(f.device_bytes == device);
    REQUIRE(f.host_bytes >= host_prev);
    host_prev = f.host_bytes;
  }
  REQUIRE(c.resident_tokens() == 12);
  REQUIRE(c.host_tokens() == steps - 12);
  // resident KV (sinks + window) + gather buffer (topk) + max|K| (f32 per head and channel)
  REQUIRE(device == 2 * (12 + 32) * 2 * 16 * sizeof(bf16) + 2 * 16 * sizeof(float));
  REQUIRE(c.footprint().host_bytes > 2 * (steps - 12) * 2 * 16 * sizeof(bf16));  // KV + channel-major copy
  REQUIRE(c.footprint().metadata_bytes > 0);
}

TEST_CASE("prefetch_hint moves the channel traffic to hint time and changes nothing else", "[sparse]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{8, 2, 64};
  const std::size_t hk = 2, d = 64, ds = 6, topk = 30;
  const sequence s(rng, shape, 400);
  const auto o = sparse_options::from_spec(policy_spec::parse("sparse:topk=30,sink=8,window=8,channels=6"));
  sparse_cache<bf16> hinted(shape, o), plain(shape, o);
  hinted.append(s.kv(0, 300), s.vv(0, 300));
  plain.append(s.kv(0, 300), s.vv(0, 300));
  std::vector<float> a(s.hq * d), b(s.hq * d);
  for (std::size_t pos = 300; pos < s.total; ++pos) {
    const std::size_t h = hinted.host_tokens();
    auto t0 = hinted.traffic();
    hinted.prefetch_hint(s.qv(pos, 1));
    auto t1 = hinted.traffic();
    REQUIRE(t1.host_to_device - t0.host_to_device == hk * ds * h * sizeof(bf16));
    hinted.append_and_attend(s.qv(pos, 1), s.kv(pos, 1), s.vv(pos, 1), tensor_view<float, 3>(a.data(), {1, s.hq, d}));
    auto t2 = hinted.traffic();
    REQUIRE(t2.host_to_device - t1.host_to_device == hk * 2 * topk * d * sizeof(bf16));  // gathered rows only
    plain.append_and_attend(s.qv(pos, 1), s.kv(pos, 1), s.vv(pos, 1), tensor_view<float, 3>(b.data(), {1, s.hq, d}));
    REQUIRE(a == b);
    REQUIRE(hinted.traffic() == plain.traffic());
    for (std::size_t kh = 0; kh < hk; ++kh) REQUIRE(hinted.attended_positions(kh) == plain.attended_positions(kh));
  }
  // a hint followed by more offloaded tokens: the step reads only the new tail from the host
  hinted.prefetch_hint(s.qv(0, 1));
  hinted.append(s.kv(0, 5), s.vv(0, 5));
  plain.append(s.kv(0, 5), s.vv(0, 5));
  const auto t0 = hinted.traffic();
  hinted.append_and_attend(s.qv(0, 1), s.kv(5, 1), s.vv(5, 1), tensor_view<float, 3>(a.data(), {1, s.hq, d}));
  REQUIRE(hinted.traffic().host_to_device - t0.host_to_device == hk * (ds * 5 + 2 * topk * d) * sizeof(bf16));
  // a wrong-shaped hint names the argument
  REQUIRE_THROWS_WITH(hinted.prefetch_hint(s.kv(0, 1)), Catch::Contains("predicted_q"));
  // the device budget is enforced: a hint that would not fit is declined, the step reads the host
  auto tight = o;
  tight.device_budget = sparse_cache<bf16>(shape, o).footprint().device_bytes + 2 * topk * hk * d * sizeof(bf16);
  sparse_cache<bf16> budgeted(shape, tight);
  budgeted.append(s.kv(0, 300), s.vv(0, 300));
  const auto tb = budgeted.traffic();
  budgeted.prefetch_hint(s.qv(300, 1));
  REQUIRE(budgeted.traffic() == tb);
  REQUIRE(budgeted.footprint().device_bytes <= tight.device_budget);
  tight.device_budget = 1000;
  REQUIRE_THROWS_WITH(sparse_cache<bf16>(shape, tight), Catch::Contains("device_budget"));
}

TEST_CASE("bad options name the option; topk beyond the tokens held takes them all", "[sparse]") {
  const layer_shape shape{8, 2, 64};
  REQUIRE_THROWS_WITH(make_layer_cache("sparse:topk=0", shape), Catch::Contains("topk must be in"));
  REQUIRE_THROWS_WITH(make_layer_cache("sparse:channels=0", shape), Catch::Contains("channels must be in"));
  REQUIRE_THROWS_WITH(make_layer_cache("sparse:channels=65", shape), Catch::Contains("channels must be in [1, head_dim = 64]"));
  REQUIRE_THROWS_WITH(make_layer_cache("sparse:window=0", shape), Catch::Contains("window must be in"));
  REQUIRE_THROWS_WITH(make_layer_cache("sparse:selector=magic", shape), Catch::Contains("selector must be one of"));
  REQUIRE_THROWS_WITH(make_layer_cache("sparse:page=0,selector=pages", shape), Catch::Contains("page must be in"));
  REQUIRE_THROWS_WITH(make_layer_cache("sparse:dtype=int8", shape), Catch::Contains("dtype"));
  REQUIRE_THROWS_WITH(make_layer_cache("sparse:topk=8,tokp=9", shape), Catch::Contains("unknown option 'tokp'"));
  REQUIRE_THROWS_WITH(make_layer_cache("sparse:bf16", shape), Catch::Contains("unexpected argument 'bf16'"));
  REQUIRE_THROWS_WITH(sparse_cache<float>(shape, sparse_options{.channels = 100}), Catch::Contains("channels"));
  auto c = make_layer_cache("sparse:topk=100000,sink=2,window=2,selector=exact,dtype=f32", shape);
  REQUIRE(c->spec() == "sparse:topk=100000,sink=2,window=2,selector=exact,dtype=f32");

  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const sequence s(rng, shape, 50);
  std::vector<float> out(s.hq * s.d);
  c->append(s.kv(0, 49), s.vv(0, 49));
  c->append_and_attend(s.qv(49, 1), s.kv(49, 1), s.vv(49, 1), tensor_view<float, 3>(out.data(), {1, s.hq, s.d}));
  const auto pos = c->attended_positions(0);
  REQUIRE(pos.has_value());
  REQUIRE(pos->size() == 49);
  const auto exact = attention_reference(s.qv(49, 1), s.kv(0, 50), s.vv(0, 50), shape, 49);
  REQUIRE(test::relative_error(std::span<const float>(out), std::span<const double>(exact)) <= test::sparse_vs_oracle_rel);
  REQUIRE_THROWS_WITH(c->attended_positions(2), Catch::Contains("kv_head 2 out of range"));
  // the runtime face reaches the concrete policy
  kv_cache cache("sparse:topk=4", 2, shape);
  REQUIRE(cache.policy_as<sparse_cache<bf16>>(1) != nullptr);
}
