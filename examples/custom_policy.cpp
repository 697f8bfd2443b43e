// Writing your own policy: register a StreamingLLM-style cache by name in this program's own code,
// run it by spec string through kv_cache and through a plan, and check it against the f64 oracle.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kvc/kvc.hpp"
#include "streaming_cache.hpp"  // the policy, in this folder

namespace {

constexpr double oracle_tolerance = 2e-5;  // f32 storage and f32 kernel vs the f64 oracle, |Δ| / (1 + |ref|)

/// Runs `steps` decode steps on `layer` of `cache` and returns the worst |Δ| / (1 + |ref|)
/// against attention_reference over the tokens a streaming cache keeps (sinks, window, new).
double worst_error(kvc::kv_cache& cache, int layer, std::size_t sinks, std::size_t window, int steps, std::mt19937& rng) {
  const kvc::layer_shape shape = cache.shape();
  const std::size_t hq = std::size_t(shape.q_heads), hk = std::size_t(shape.kv_heads), d = std::size_t(shape.head_dim);
  std::normal_distribution<float> normal;
  std::vector<float> all_k, all_v, q(hq * d), out(hq * d);
  double worst = 0;
  for (int t = 0; t < steps; ++t) {
    for (float& e : q) e = normal(rng);
    for (std::size_t i = 0; i < hk * d; ++i) all_k.push_back(normal(rng)), all_v.push_back(normal(rng));
    cache.append_and_attend(layer, kvc::tensor_view<const float, 3>(q.data(), {1, hq, d}),
                            kvc::tensor_view<const float, 3>(all_k.data() + std::size_t(t) * hk * d, {1, hk, d}),
                            kvc::tensor_view<const float, 3>(all_v.data() + std::size_t(t) * hk * d, {1, hk, d}),
                            kvc::tensor_view<float, 3>(out.data(), {1, hq, d}));
    // the positions the cache held before this step, then the new one
    std::vector<std::size_t> kept;
    for (std::size_t p = 0; p < std::size_t(t); ++p)
      if (p < sinks || p + window >= std::size_t(t)) kept.push_back(p);
    kept.push_back(std::size_t(t));
    std::vector<float> kk, vv;
    for (std::size_t p : kept) {
      kk.insert(kk.end(), all_k.begin() + long(p * hk * d), all_k.begin() + long((p + 1) * hk * d));
      vv.insert(vv.end(), all_v.begin() + long(p * hk * d), all_v.begin() + long((p + 1) * hk * d));
    }
    const auto ref = kvc::attention_reference(kvc::tensor_view<const float, 3>(q.data(), {1, hq, d}),
                                              kvc::tensor_view<const float, 3>(kk.data(), {kept.size(), hk, d}),
                                              kvc::tensor_view<const float, 3>(vv.data(), {kept.size(), hk, d}), shape,
                                              kept.size() - 1);
    for (std::size_t i = 0; i < ref.size(); ++i)
      worst = std::max(worst, std::abs(double(out[i]) - ref[i]) / (1.0 + std::abs(ref[i])));
  }
  return worst;
}

}  // namespace

int main() {
  streaming_cache::register_spec();  // no edit of the library: the name is known from here on
  const kvc::layer_shape shape{4, 2, 32};
  std::mt19937 rng(3);

  // by spec string, every layer the same policy
  kvc::kv_cache by_spec("streaming:sink=4,window=60", 2, shape);
  const double e1 = worst_error(by_spec, 1, 4, 60, 200, rng);
  // through a plan: layer 0 streams, layer 1 keeps everything
  kvc::cache_plan plan;
  plan.layers = {"streaming:sink=2,window=16", "full:f32"};
  kvc::kv_cache by_plan(plan, shape);
  const double e2 = worst_error(by_plan, 0, 2, 16, 100, rng);
  const double e3 = worst_error(by_plan, 1, 100, 0, 100, rng);  // full: sinks cover every position
  const auto* streaming = by_plan.policy_as<streaming_cache>(0);

  std::printf("streaming cache holds %zu tokens after 200 steps (4 sinks + 60 recent), %zu via the plan (2 + 16)\n",
              by_spec.size(1), by_plan.size(0));
  std::printf("worst |out - f64 oracle| / (1 + |ref|): spec %.2e, plan streaming layer %.2e, plan full layer %.2e "
              "(tolerance %.0e)\n", e1, e2, e3, oracle_tolerance);
  const bool ok = by_spec.size(1) == 64 && by_plan.size(0) == 18 && streaming != nullptr && e1 <= oracle_tolerance &&
                  e2 <= oracle_tolerance && e3 <= oracle_tolerance;
  std::printf("%s\n", ok ? "custom policy matches the oracle" : "MISMATCH");
  return ok ? 0 : 1;
}
