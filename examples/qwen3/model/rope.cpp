// RoPE frequency tables (default, linear, YaRN, Llama-3) and the rotation itself.
#include "model/rope.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {
namespace {

// HF: 1 / base ** (arange(0, d, 2).float() / d), every step in f32.
std::vector<float> default_inv_freq(double theta, int d) {
  std::vector<float> f(std::size_t(d / 2));
  for (int i = 0; i < d / 2; ++i) {
    const float e = float(2 * i) / float(d);
    f[std::size_t(i)] = 1.0f / std::pow(float(theta), e);
  }
  return f;
}

double yarn_mscale(double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

}  // namespace

rope_table::rope_table(const rope_config& rope, int head_dim) : head_dim_(head_dim) {
  kvc::detail::require(head_dim > 0 && head_dim % 2 == 0, "rope: head_dim must be even, got ", head_dim);
  const int half = head_dim / 2;
  inv_freq_ = default_inv_freq(rope.theta, head_dim);
  if (rope.type == "default") return;
  if (rope.type == "linear") {
    for (auto& f : inv_freq_) f = f / float(rope.factor);
    return;
  }
  if (rope.type == "yarn") {
    const double s = rope.factor, base = rope.theta, d = head_dim;
    const double L0 = rope.original_max_position_embeddings;
    if (rope.attention_factor) attention_factor_ = float(*rope.attention_factor);
    else if (rope.mscale && rope.mscale_all_dim && *rope.mscale != 0 && *rope.mscale_all_dim != 0)
      attention_factor_ = float(yarn_mscale(s, *rope.mscale) / yarn_mscale(s, *rope.mscale_all_dim));
    else attention_factor_ = float(yarn_mscale(s, 1.0));
    auto correction_dim = [&](double rotations) {
      return d * std::log(L0 / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
    };
    double low = correction_dim(rope.beta_fast), high = correction_dim(rope.beta_slow);
    if (rope.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, d - 1);
    if (low == high) high += 0.001;
    for (int i = 0; i < half; ++i) {
      const float pos_freq = std::pow(float(base), float(2 * i) / float(head_dim));
      const float extrap = 1.0f / pos_freq;
      const float interp = 1.0f / (float(s) * pos_freq);
      const float ramp = std::clamp((float(i) - float(low)) / float(high - low), 0.0f, 1.0f);
      const float extrap_factor = 1.0f - ramp;
      inv_freq_[std::size_t(i)] = interp * (1.0f - extrap_factor) + extrap * extrap_factor;
    }
    return;
  }
  if (rope.type == "llama3") {
    const double L0 = rope.original_max_position_embeddings;
    const double low_wavelen = L0 / rope.low_freq_factor, high_wavelen = L0 / rope.high_freq_factor;
    for (auto& f : inv_freq_) {
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        f = float(f / rope.factor);
        continue;
      }
      const double smooth =
          (L0 / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
      f = float((1 - smooth) * f / rope.factor + smooth * f);
    }
    return;
  }
  kvc::detail::fail("rope: unsupported rope type '", rope.type, "'");
}

void rope_table::apply(tensor_view<float, 3> x, std::span<const std::int32_t> positions) const {
  kvc::detail::require(x.extent(2) == std::size_t(head_dim_), "rope: head_dim ", x.extent(2),
                       " != ", head_dim_);
  kvc::detail::require(positions.size() == x.extent(0), "rope: ", positions.size(),
                       " positions for ", x.extent(0), " tokens");
  const std::size_t half = std::size_t(head_dim_ / 2);
  std::vector<float> cos(half), sin(half);
  for (std::size_t t = 0; t < x.extent(0); ++t) {
    const float p = float(positions[t]);
    for (std::size_t i = 0; i < half; ++i) {
      const float angle = p * inv_freq_[i];  // f32 product, as HF's f32 matmul of positions
      cos[i] = float(std::cos(double(angle))) * attention_factor_;
      sin[i] = float(std::sin(double(angle))) * attention_factor_;
    }
    for (std::size_t h = 0; h < x.extent(1); ++h) {
      float* r = x.row(t, h);
      for (std::size_t i = 0; i < half; ++i) {
        const float a = r[i], b = r[i + half];
        r[i] = a * cos[i] - b * sin[i];
        r[i + half] = b * cos[i] + a * sin[i];
      }
    }
  }
}

}  // namespace kvc::qwen3
