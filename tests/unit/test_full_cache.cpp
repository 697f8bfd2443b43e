// The full policy: contract behaviour (prefill, chunked prefill, decode), accounting, bad input.
#include <catch2/catch.hpp>

#include <random>
#include <span>
#include <vector>

#include "kvc/attention/reference.hpp"
#include "kvc/cache.hpp"
#include "kvc/policy/full.hpp"
#include "support/compare.hpp"
#include "support/random.hpp"
#include "support/tolerances.hpp"

using namespace kvc;

TEST_CASE("prefill, chunked prefill and decode steps all match the oracle", "[full]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{8, 2, 64};
  const std::size_t hq = 8, hk = 2, d = 64, total = 300;
  const auto q = test::random_values<float>(rng, total * hq * d);
  const auto k = test::random_values<float>(rng, total * hk * d);
  const auto v = test::random_values<float>(rng, total * hk * d);
  const auto qv = [&](std::size_t a, std::size_t n) { return tensor_view<const float, 3>(q.data() + a * hq * d, {n, hq, d}); };
  const auto kv = [&](const std::vector<float>& x, std::size_t a, std::size_t n) {
    return tensor_view<const float, 3>(x.data() + a * hk * d, {n, hk, d});
  };
  full_cache<float> cache(shape, {dtype::f32, 64});
  std::vector<float> out(total * hq * d);
  // chunks of 100, 57, then single-token steps
  std::size_t pos = 0;
  for (std::size_t n : {std::size_t(100), std::size_t(57)}) {
    cache.append_and_attend(qv(pos, n), kv(k, pos, n), kv(v, pos, n), tensor_view<float, 3>(out.data() + pos * hq * d, {n, hq, d}));
    pos += n;
  }
  while (pos < total) {
    cache.append_and_attend(qv(pos, 1), kv(k, pos, 1), kv(v, pos, 1), tensor_view<float, 3>(out.data() + pos * hq * d, {1, hq, d}));
    ++pos;
  }
  const auto exact = attention_reference(qv(0, total), kv(k, 0, total), kv(v, 0, total), shape, 0);
  REQUIRE(test::relative_error(std::span<const float>(out), std::span<const double>(exact)) <= test::attention_f32_rel);
  REQUIRE(cache.size() == total);
}

TEST_CASE("footprint counts the blocks actually allocated and what of them holds no token", "[full]") {
  const layer_shape shape{32, 8, 128};
  // through the layer face: the page pool's slabs as allocated; the policy itself counts its pages
  kv_cache cache("full:bf16", 1, shape);
  const auto& policy = *cache.policy_as<full_cache<bf16>>(0);
  constexpr std::size_t token_bytes = 2 * 8 * 128 * 2;   // K and V, 8 heads x 128 x 2 bytes
  constexpr std::size_t page_bytes = 256 * token_bytes;  // one page holds K and V: 1 MiB
  std::vector<bf16> k(4096 * 8 * 128, to_bf16(0.5f));
  const auto append = [&](std::size_t n) {
    cache.append(0, tensor_view<const bf16, 3>(k.data(), {n, 8, 128}), tensor_view<const bf16, 3>(k.data(), {n, 8, 128}));
  };
  append(1000);  // a small store takes a page at a time: 4 pages
  REQUIRE(cache.footprint().device_bytes == 4 * page_bytes);
  REQUIRE(cache.footprint().reserved_bytes == 4 * page_bytes - 1000 * token_bytes);
  REQUIRE(cache.footprint().host_bytes == 0);
  REQUIRE(cache.traffic().total() == 0);
  append(4096 - 1000);  // 16 pages: past 4 slabs' worth (a 2 MiB slab holds 2 pages) slabs are whole
  REQUIRE(cache.footprint().device_bytes == 16 * page_bytes);
  REQUIRE(cache.footprint().reserved_bytes == 0);
  append(1);  // a slab of 2 pages for the 17th
  REQUIRE(cache.footprint().device_bytes == 18 * page_bytes);
  REQUIRE(cache.footprint().reserved_bytes == 18 * page_bytes - 4097 * token_bytes);
  REQUIRE(policy.footprint().device_bytes == 17 * page_bytes);  // the sequence's own pages
  append(511);  // fills that slab
  REQUIRE(cache.footprint().device_bytes == 18 * page_bytes);
  REQUIRE(cache.footprint().reserved_bytes == 0);
  cache.clear();
  REQUIRE(cache.size(0) == 0);
  REQUIRE(cache.footprint().device_bytes == 0);  // every slab went back
  REQUIRE(cache.footprint().reserved_bytes == 0);
}

TEST_CASE("rows in single pages and in slabs match the oracle", "[full]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{32, 8, 128};
  const std::size_t hq = 32, hk = 8, d = 128, total = 4600;  // 18 pages of 256 tokens: 16 alone, 2 in a slab
  const auto q = test::random_values<float>(rng, hq * d);
  const auto k = test::random_values<float>(rng, total * hk * d);
  const auto v = test::random_values<float>(rng, total * hk * d);
  full_cache<bf16> cache(shape, {dtype::bf16, 256});
  cache.append(tensor_view<const float, 3>(k.data(), {total - 1, hk, d}), tensor_view<const float, 3>(v.data(), {total - 1, hk, d}));
  std::vector<float> out(hq * d);
  cache.append_and_attend(tensor_view<const float, 3>(q.data(), {1, hq, d}),
                          tensor_view<const float, 3>(k.data() + (total - 1) * hk * d, {1, hk, d}),
                          tensor_view<const float, 3>(v.data() + (total - 1) * hk * d, {1, hk, d}),
                          tensor_view<float, 3>(out.data(), {1, hq, d}));
  // the oracle sees the keys and values as stored (rounded to bf16); the step's own token is
  // attended as given, in f32
  std::vector<float> kr = k, vr = v;
  for (std::size_t i = 0; i < (total - 1) * hk * d; ++i) kr[i] = to_float(to_bf16(k[i])), vr[i] = to_float(to_bf16(v[i]));
  const auto exact = attention_reference(tensor_view<const float, 3>(q.data(), {1, hq, d}),
                                         tensor_view<const float, 3>(kr.data(), {total, hk, d}),
                                         tensor_view<const float, 3>(vr.data(), {total, hk, d}), shape, total - 1);
  REQUIRE(test::relative_error(std::span<const float>(out), std::span<const double>(exact)) <= test::attention_f32_rel);
  // every stored row is where the segments say
  const auto segs = cache.segments(0, total);
  for (const auto& seg : segs)
    for (std::size_t t = 0; t < seg.tokens; ++t)
      for (std::size_t h = 0; h < hk; ++h)
        REQUIRE(seg.k.row(t, h)[5].bits == to_bf16(k[((seg.start + t) * hk + h) * d + 5]).bits);
}

TEST_CASE("stored values convert with round to nearest even", "[full]") {
  const layer_shape shape{1, 1, 8};
  full_cache<bf16> cache(shape);
  std::vector<float> k{1.00390625f, 1.01171875f, -3.3f, 1e-3f, 65504.f, -0.f, 7.f, 1.f};
  cache.append(tensor_view<const float, 3>(k.data(), {1, 1, 8}), tensor_view<const float, 3>(k.data(), {1, 1, 8}));
  const auto seg = cache.segments(0, 1);
  for (int i = 0; i < 8; ++i) REQUIRE(seg[0].k.row(0, 0)[i].bits == to_bf16(k[i]).bits);
}

TEST_CASE("bad shapes and dtypes name the argument", "[full]") {
  full_cache<float> cache({4, 2, 16});
  std::vector<float> buf(4 * 4 * 16, 1.0f);
  std::vector<bf16> bbuf(4 * 2 * 16);
  const tensor_view<const float, 3> q(buf.data(), {1, 4, 16}), k(buf.data(), {1, 2, 16}), wrong(buf.data(), {1, 3, 16});
  std::vector<float> out(4 * 16);
  const tensor_view<float, 3> o(out.data(), {1, 4, 16});
  REQUIRE_THROWS_WITH(cache.append_and_attend(q, wrong, k, o), Catch::Contains("k: expected shape"));
  REQUIRE_THROWS_WITH(cache.append_and_attend(q, k, wrong, o), Catch::Contains("v: expected shape"));
  REQUIRE_THROWS_WITH(cache.append_and_attend(k, k, k, o), Catch::Contains("q: expected shape"));
  REQUIRE_THROWS_WITH(cache.append_and_attend(q, k, tensor_view<const bf16, 3>(bbuf.data(), {1, 2, 16}), o),
                      Catch::Contains("same dtype"));
  REQUIRE_THROWS_WITH(full_cache<float>({0, 2, 16}), Catch::Contains("q_heads"));
  REQUIRE_THROWS_WITH(full_cache<float>({4, 0, 16}), Catch::Contains("kv_heads"));
  REQUIRE_THROWS_WITH(full_cache<float>({6, 4, 16}), Catch::Contains("multiple of kv_heads"));
  REQUIRE(cache.size() == 0);  // nothing stored by failed calls
}
