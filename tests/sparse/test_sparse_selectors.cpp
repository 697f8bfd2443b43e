// Selectors of the sparse-offload policy on planted heavy hitters, top-k selection, and mass_recall.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <span>
#include <vector>

#include "kvc/attention/recall.hpp"
#include "kvc/detail/topk.hpp"
#include "kvc/policy/sparse.hpp"
#include "sparse/sparse_tolerances.hpp"
#include "support/random.hpp"

using namespace kvc;

TEST_CASE("top_k_indices returns the k largest, ties to the lower index", "[sparse][topk]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> level(0, 20);
  detail::top_k_scratch tmp;
  for (std::size_t n : {1, 7, 100, 5000}) {
    std::vector<float> s(n);
    for (auto& x : s) x = float(level(rng) - 10) * 0.5f;  // many ties, both signs
    s[0] = std::nanf("");
    for (std::size_t k : {std::size_t(1), n / 3 + 1, n}) {
      std::vector<std::uint32_t> got(k);
      detail::top_k_indices(s.data(), n, k, tmp, got.data());
      std::vector<std::uint32_t> order(n);
      std::iota(order.begin(), order.end(), 0u);
      const auto rank = [&](std::uint32_t i) { return std::isnan(s[i]) ? -1e300 : double(s[i]); };
      std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return rank(a) > rank(b); });
      std::sort(got.begin(), got.end());
      std::vector<std::uint32_t> want(order.begin(), order.begin() + long(k));
      std::sort(want.begin(), want.end());
      REQUIRE(got == want);
    }
  }
  // continuous scores at decode size, with an infinite one (falls back to the bit-key buckets)
  for (bool with_inf : {false, true}) {
    auto s = test::random_values<float>(rng, 40000, 2.0f);
    if (with_inf) s[123] = INFINITY;
    std::vector<std::uint32_t> got(896);
    detail::top_k_indices(s.data(), s.size(), got.size(), tmp, got.data());
    std::vector<std::uint32_t> order(s.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return s[a] > s[b]; });
    std::vector<std::uint32_t> want(order.begin(), order.begin() + long(got.size()));
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    REQUIRE(got == want);
  }
}

TEST_CASE("mass_recall is the attended share of softmax mass", "[sparse][recall]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const auto f = test::random_values<float>(rng, 300, 3.0f);
  const std::vector<double> s(f.begin(), f.end());
  std::vector<std::size_t> all(s.size()), a, b;
  std::iota(all.begin(), all.end(), 0u);
  for (std::size_t t = 0; t < s.size(); ++t) (rng() & 1 ? a : b).push_back(t);
  REQUIRE(mass_recall(std::span<const double>(s), all) == Approx(1.0).epsilon(1e-12));
  REQUIRE(mass_recall(std::span<const double>(s), {}) == 0.0);
  const double ra = mass_recall(std::span<const double>(s), a), rb = mass_recall(std::span<const double>(s), b);
  REQUIRE(ra + rb == Approx(1.0).epsilon(1e-12));
  // direct two-pass computation for one set
  double tot = 0, part = 0;
  for (double x : s) tot += std::exp(x);
  for (std::size_t t : a) part += std::exp(s[t]);
  REQUIRE(ra == Approx(part / tot).epsilon(1e-9));
  auto dup = a;
  dup.insert(dup.end(), a.begin(), a.end());
  REQUIRE(mass_recall(std::span<const double>(s), dup) == Approx(ra).epsilon(1e-12));
  REQUIRE(mass_recall(std::span<const float>(f), a) == Approx(ra).epsilon(1e-6));
  const std::vector<std::size_t> bad{s.size()};
  REQUIRE_THROWS_WITH(mass_recall(std::span<const double>(s), bad), Catch::Contains("out of range"));
}

namespace {

/// A layer with planted heavy hitters: per KV head, a few channels carry the query (sign s_c,
/// magnitude 3) and `heavy` random host tokens have keys aligned with them (magnitude 4).
struct planted {
  layer_shape shape{8, 2, 64};
  std::size_t hq = 8, hk = 2, d = 64, context = 2000, heavy = 20;
  std::vector<float> k, v, q;                     // [context+1, hk, d], [context+1, hk, d], [1, hq, d]
  std::vector<std::set<std::size_t>> heavy_pos;  // [hk]
  planted(std::mt19937_64& rng, std::size_t sink, std::size_t window) {
    k = test::random_values<float>(rng, (context + 1) * hk * d);
    v = test::random_values<float>(rng, (context + 1) * hk * d);
    q = test::random_values<float>(rng, hq * d, 0.3f);
    std::uniform_int_distribution<std::size_t> pos(sink, context - window - 1), chan(0, d - 1);
    heavy_pos.resize(hk);
    for (std::size_t h = 0; h < hk; ++h) {
      std::set<std::size_t> cs;
      while (cs.size() < 6) cs.insert(chan(rng));
      std::vector<float> sign;
      for (std::size_t c : cs) {
        const float sg = rng() & 1 ? 1.0f : -1.0f;
        for (std::size_t g = 0; g < hq / hk; ++g) q[(h * (hq / hk) + g) * d + c] = 3.0f * sg;
        sign.push_back(sg);
      }
      while (heavy_pos[h].size() < heavy) heavy_pos[h].insert(pos(rng));
      for (std::size_t t : heavy_pos[h]) {
        std::size_t i = 0;
        for (std::size_t c : cs) k[(t * hk + h) * d + c] = 4.0f * sign[i++];
      }
    }
  }
  /// Exact logits of query head qh over positions 0..context (the new token last).
  std::vector<double> logits(std::size_t qh) const {
    std::vector<double> s(context + 1);
    const std::size_t h = qh / (hq / hk);
    for (std::size_t t = 0; t <= context; ++t) {
      double dot = 0;
      for (std::size_t c = 0; c < d; ++c) dot += double(q[qh * d + c]) * double(k[(t * hk + h) * d + c]);
      s[t] = dot / std::sqrt(double(d));
    }
    return s;
  }
};

}  // namespace

TEST_CASE("channels, pages and exact selectors find planted heavy hitters", "[sparse][selectors]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const planted p(rng, 16, 16);
  for (const char* spec : {"sparse:topk=400,sink=16,window=16,channels=8,selector=channels,dtype=f32",
                           "sparse:topk=400,sink=16,window=16,selector=pages,page=16,dtype=f32",
                           "sparse:topk=400,sink=16,window=16,selector=exact,dtype=f32",
                           "sparse:topk=64,sink=16,window=16,channels=8,selector=channels",
                           "sparse:topk=32,sink=16,window=16,selector=exact"}) {
    INFO(spec);
    const auto o = sparse_options::from_spec(policy_spec::parse(spec));
    visit_dtype(o.storage, [&](auto tag) {
      using T = decltype(tag);
      sparse_cache<T> c(p.shape, o);
      c.append(tensor_view<const float, 3>(p.k.data(), {p.context, p.hk, p.d}),
               tensor_view<const float, 3>(p.v.data(), {p.context, p.hk, p.d}));
      std::vector<float> out(p.hq * p.d);
      c.append_and_attend(tensor_view<const float, 3>(p.q.data(), {1, p.hq, p.d}),
                          tensor_view<const float, 3>(p.k.data() + p.context * p.hk * p.d, {1, p.hk, p.d}),
                          tensor_view<const float, 3>(p.v.data() + p.context * p.hk * p.d, {1, p.hk, p.d}),
                          tensor_view<float, 3>(out.data(), {1, p.hq, p.d}));
      for (std::size_t h = 0; h < p.hk; ++h) {
        auto att = c.attended_positions(h);
        REQUIRE(att.size() == 16 + 16 + o.topk);
        const std::set<std::size_t> got(att.begin(), att.end());
        for (std::size_t t : p.heavy_pos[h]) REQUIRE(got.count(t) == 1);
        att.push_back(p.context);  // the new token
        for (std::size_t g = 0; g < p.hq / p.hk; ++g) {
          const auto s = p.logits(h * (p.hq / p.hk) + g);
          REQUIRE(mass_recall(std::span<const double>(s), att) >= test::sparse_planted_recall);
        }
      }
    });
  }
}

TEST_CASE("the exact selector takes the true top-k of the summed group score", "[sparse][selectors]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{8, 2, 32};
  const std::size_t hq = 8, hk = 2, d = 32, n = 700, sink = 4, window = 4, topk = 50;
  const auto k = test::random_values<float>(rng, (n + 1) * hk * d);
  const auto q = test::random_values<float>(rng, hq * d);
  sparse_options o;
  o.selector = sparse_selector::exact;
  o.storage = dtype::f32;
  o.topk = topk;
  o.sink = sink;
  o.window = window;
  sparse_cache<float> c(shape, o);
  c.append(tensor_view<const float, 3>(k.data(), {n, hk, d}), tensor_view<const float, 3>(k.data(), {n, hk, d}));
  std::vector<float> out(hq * d);
  const tensor_view<const float, 3> kn(k.data() + n * hk * d, {1, hk, d});
  c.append_and_attend(tensor_view<const float, 3>(q.data(), {1, hq, d}), kn, kn, tensor_view<float, 3>(out.data(), {1, hq, d}));
  for (std::size_t h = 0; h < hk; ++h) {
    std::vector<double> score(n, 0.0);
    for (std::size_t t = sink; t < n - window; ++t)
      for (std::size_t g = 0; g < hq / hk; ++g)
        for (std::size_t x = 0; x < d; ++x) score[t] += double(q[(h * (hq / hk) + g) * d + x]) * double(k[(t * hk + h) * d + x]);
    const auto att = c.attended_positions(h);
    std::set<std::size_t> chosen;
    for (std::size_t t : att)
      if (t >= sink && t < n - window) chosen.insert(t);
    REQUIRE(chosen.size() == topk);
    double min_in = INFINITY, max_out = -INFINITY;
    for (std::size_t t = sink; t < n - window; ++t)
      (chosen.count(t) ? min_in : max_out) = chosen.count(t) ? std::min(min_in, score[t]) : std::max(max_out, score[t]);
    REQUIRE(min_in >= max_out - 1e-4 * std::abs(max_out));
  }
}
