// A seeded synthetic KV workload with the structure real caches have, at any layer shape.
//
// What it builds, per KV head h (all draws from one seeded generator, so runs repeat exactly):
// - Keys k_t = noise + outlier + sink + heavy + local, with
//   - noise: N(0, 1) per channel;
//   - outlier channels: `outlier_channels` channels per head carry a large, nearly constant
//     offset (magnitude `outlier_magnitude`, random sign) — the per-channel key outliers that
//     KIVI quantizes per channel for, and that make channel-wise top-k scoring work;
//   - an attention sink: token 0 gets a strong component along the head's query direction u_h,
//     so it collects a large share of attention (StreamingLLM's sink);
//   - heavy hitters: a `heavy_fraction` of tokens get a component of random strength along u_h
//     (H2O's heavy hitters), so attention is concentrated on few tokens (sparse layers);
//   - locality: a component c·r(t), r(t) = cos(ωt)·a + sin(ωt)·b in a random plane (a, b);
//     queries carry r(i), so q_i·k_t ∝ cos(ω(i − t)) favours recent tokens, as RoPE does.
// - Queries q_i (each query head of the group its own draw) = `query_strength`·u_h + the
//   locality term r(i) + N(0, 1) noise; u_h leans on the outlier channels.
// - Values v_t: N(0, 1) per channel, scaled per token by a log-normal factor.
// `dense` layers (TailorKV's quantization-friendly kind) get no sink or heavy hitters and a
// weak query direction, so their attention is spread over many tokens.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "kvc/core/layer_shape.hpp"

namespace kvc::support {

/// Knobs of the synthetic workload; the defaults give a Qwen3-8B-shaped sparse layer.
struct synthetic_options {
  layer_shape shape{32, 8, 128};
  std::size_t context = 32768;  // tokens stored before the decode steps
  std::size_t steps = 16;       // decode steps (queries) after the context
  std::uint64_t seed = 1;
  bool dense = false;           // spread attention (no sink, no heavy hitters)
  int outlier_channels = 6;
  float outlier_magnitude = 8.0f;
  float heavy_fraction = 0.02f;
  float heavy_strength = 4.0f;   // heavy-hitter key component along u (× sqrt(head_dim) / 4)
  float sink_strength = 3.0f;
  float query_strength = 2.0f;
  float local_strength = 1.5f;
  float local_omega = 0.01f;     // radians per token of the locality term
};

/// Keys, values `[context + steps, kv_heads, head_dim]` and decode queries
/// `[steps, q_heads, head_dim]` of one layer, f32, row-major.
struct synthetic_layer {
  synthetic_options options;
  std::vector<float> keys;
  std::vector<float> values;
  std::vector<float> queries;

  std::size_t tokens() const { return options.context + options.steps; }
};

/// Generates one layer of the workload (deterministic in options.seed).
inline synthetic_layer make_synthetic_layer(const synthetic_options& o) {
  const std::size_t hk = std::size_t(o.shape.kv_heads), hq = std::size_t(o.shape.q_heads);
  const std::size_t d = std::size_t(o.shape.head_dim), group = hq / hk;
  const std::size_t total = o.context + o.steps;
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const float sqrt_d = std::sqrt(float(d));

  synthetic_layer layer{o, std::vector<float>(total * hk * d), std::vector<float>(total * hk * d),
                        std::vector<float>(o.steps * hq * d)};
  const auto unit = [&](std::vector<float>& x) {
    double n2 = 0;
    for (float e : x) n2 += double(e) * e;
    for (float& e : x) e = float(e / std::sqrt(n2));
  };
  for (std::size_t h = 0; h < hk; ++h) {
    // per-head directions: outlier channels and offsets, query direction u, locality plane a, b
    std::vector<float> offset(d, 0.0f), u(d), a(d), b(d);
    for (int c = 0; c < o.outlier_channels; ++c) {
      const std::size_t ch = std::size_t(uniform(rng) * float(d)) % d;
      offset[ch] = (uniform(rng) < 0.5f ? -1.0f : 1.0f) * o.outlier_magnitude * (0.5f + uniform(rng));
    }
    for (std::size_t c = 0; c < d; ++c) {
      u[c] = normal(rng) + (offset[c] != 0.0f ? 3.0f * (offset[c] > 0 ? 1.0f : -1.0f) : 0.0f);
      a[c] = normal(rng);
      b[c] = normal(rng);
    }
    unit(u);
    unit(a);
    unit(b);
    const float heavy_scale = o.dense ? 0.0f : o.heavy_strength * sqrt_d / 4.0f;
    const float sink_scale = o.dense ? 0.0f : o.sink_strength * sqrt_d / 4.0f;
    const float local_scale = o.local_strength * sqrt_d / 4.0f;
    for (std::size_t t = 0; t < total; ++t) {
      float along_u = t == 0 ? sink_scale : 0.0f;
      if (uniform(rng) < o.heavy_fraction) along_u += heavy_scale * (0.5f + uniform(rng));
      const float ct = std::cos(o.local_omega * float(t)), st = std::sin(o.local_omega * float(t));
      float* k = &layer.keys[(t * hk + h) * d];
      float* v = &layer.values[(t * hk + h) * d];
      const float v_scale = std::exp(0.3f * normal(rng));
      for (std::size_t c = 0; c < d; ++c) {
        k[c] = normal(rng) + offset[c] * (1.0f + 0.05f * normal(rng)) + along_u * u[c] +
               local_scale * (ct * a[c] + st * b[c]);
        v[c] = v_scale * normal(rng);
      }
    }
    const float q_scale = (o.dense ? 0.25f : 1.0f) * o.query_strength * sqrt_d / 4.0f;
    for (std::size_t s = 0; s < o.steps; ++s) {
      const std::size_t pos = o.context + s;
      const float ct = std::cos(o.local_omega * float(pos)), st = std::sin(o.local_omega * float(pos));
      for (std::size_t g = 0; g < group; ++g) {
        float* q = &layer.queries[(s * hq + h * group + g) * d];
        for (std::size_t c = 0; c < d; ++c)
          q[c] = q_scale * u[c] + local_scale * (ct * a[c] + st * b[c]) + 0.5f * normal(rng);
      }
    }
  }
  return layer;
}

}  // namespace kvc::support
