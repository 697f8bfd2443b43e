// Minimal use of kvc: a two-layer bf16 cache, a prefill and a few decode steps, and its bytes.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kvc/kvc.hpp"

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
  const auto step = [&](std::size_t n) {
    for (int l = 0; l < layers; ++l) {
      const auto q = random(n * 8 * 64), k = random(n * 2 * 64), v = random(n * 2 * 64);
      std::vector<float> out(n * 8 * 64);
      cache.append_and_attend(l, kvc::tensor_view<const float, 3>(q.data(), {n, 8, 64}),  // [n, q_heads, head_dim]
                              kvc::tensor_view<const float, 3>(k.data(), {n, 2, 64}),     // [n, kv_heads, head_dim]
                              kvc::tensor_view<const float, 3>(v.data(), {n, 2, 64}),
                              kvc::tensor_view<float, 3>(out.data(), {n, 8, 64}));
    }
  };
  step(100);                                // prefill: 100 tokens at once
  for (int i = 0; i < 5; ++i) step(1);      // decode: one token at a time
  const auto bytes = cache.footprint();
  std::printf("tokens per layer: %zu\n", cache.size(0));
  std::printf("device bytes: %zu (%.1f per token per layer)\n", bytes.device_bytes,
              double(bytes.device_bytes) / double(cache.size(0) * layers));
  return 0;
}
