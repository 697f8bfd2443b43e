// Minimal use of kvc: a two-layer bf16 cache, a prefill and a few decode steps checked against
// the library's f64 oracle, and its bytes. Returns 1 when an output is off.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kvc/attention/reference.hpp"
#include "kvc/kvc.hpp"

// The cache stores K and V in bf16 (relative rounding 2^-9) and computes in f32; on unit-normal
// inputs that moves an attention output by well under this much (max |out − oracle|).
constexpr double bf16_cache_tolerance = 1e-2;

int main() {
  const kvc::layer_shape shape{8, 2, 64};  // 8 query heads share 2 KV heads of width 64
  const int layers = 2;
  kvc::kv_cache cache("full:bf16", layers, shape);

  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  const auto random = [&](std::size_t n) {
    std::vector<float> x(n);
    for (float& e : x) e = normal(rng);
    return x;
  };
  std::vector<std::vector<float>> keys(layers), values(layers);  // per layer: every k, v so far
  double worst = 0;
  const auto step = [&](std::size_t n) {
    for (int l = 0; l < layers; ++l) {
      const std::size_t past = cache.size(l);
      const auto q = random(n * 8 * 64), k = random(n * 2 * 64), v = random(n * 2 * 64);
      std::vector<float> out(n * 8 * 64);
      cache.append_and_attend(l, kvc::tensor_view<const float, 3>(q.data(), {n, 8, 64}),  // [n, q_heads, head_dim]
                              kvc::tensor_view<const float, 3>(k.data(), {n, 2, 64}),     // [n, kv_heads, head_dim]
                              kvc::tensor_view<const float, 3>(v.data(), {n, 2, 64}),
                              kvc::tensor_view<float, 3>(out.data(), {n, 8, 64}));
      // The f64 oracle over every key and value so far: query i attends keys 0 .. past + i.
      keys[l].insert(keys[l].end(), k.begin(), k.end());
      values[l].insert(values[l].end(), v.begin(), v.end());
      const auto ref = kvc::attention_reference(
          kvc::tensor_view<const float, 3>(q.data(), {n, 8, 64}),
          kvc::tensor_view<const float, 3>(keys[l].data(), {past + n, 2, 64}),  // [past + n, kv_heads, head_dim]
          kvc::tensor_view<const float, 3>(values[l].data(), {past + n, 2, 64}), shape, past);
      for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::fabs(double(out[i]) - ref[i]));
    }
  };
  step(100);                                // prefill: 100 tokens at once
  for (int i = 0; i < 5; ++i) step(1);      // decode: one token at a time
  const auto bytes = cache.footprint();
  std::printf("tokens per layer: %zu\n", cache.size(0));
  std::printf("device bytes: %zu (%.1f per token per layer)\n", bytes.device_bytes,
              double(bytes.device_bytes) / double(cache.size(0) * layers));
  std::printf("max |output - f64 oracle|: %.2e (tolerance %.0e)\n", worst, bf16_cache_tolerance);
  return worst <= bf16_cache_tolerance ? 0 : 1;
}
