// A policy written outside the library: StreamingLLM-style sinks + recent window, the rest evicted.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kvc/kvc.hpp"

/// Keeps the first `sinks` tokens and the last `window` tokens in f32; older tokens are dropped.
/// Built only from kvc's public pieces: the step checks, a stored_view and the CPU backend.
class streaming_cache {
 public:
  streaming_cache(const kvc::layer_shape& shape, std::size_t sinks, std::size_t window)
      : shape_((shape.validate(), shape)), sinks_(sinks), window_(window),
        row_(std::size_t(shape.kv_heads * shape.head_dim)) {
    kvc::detail::require(window >= 1, "streaming: window must be >= 1, got ", window);
  }

  const kvc::layer_shape& shape() const { return shape_; }
  std::size_t size() const { return keys_.size() / row_; }
  std::size_t sinks() const { return sinks_; }
  std::size_t window() const { return window_; }

  /// k, v `[n, kv_heads, head_dim]` in f32, bf16 or f16, stored as f32.
  void append(const kvc::dyn_view3& k, const kvc::dyn_view3& v) {
    const std::size_t n = kvc::check_kv(shape_, k, v);
    for (std::size_t i = 0; i < n; ++i) {
      push_row(k, i, keys_);
      push_row(v, i, values_);
      if (size() > sinks_ + window_) {  // evict the oldest non-sink token
        keys_.erase(keys_.begin() + long(sinks_ * row_), keys_.begin() + long((sinks_ + 1) * row_));
        values_.erase(values_.begin() + long(sinks_ * row_), values_.begin() + long((sinks_ + 1) * row_));
      }
    }
  }

  void append_and_attend(const kvc::dyn_view3& q, const kvc::dyn_view3& k, const kvc::dyn_view3& v,
                         const kvc::tensor_view<float, 3>& out) {
    kvc::cpu::attend_step(shape_, stored(), q, k, v, out);
    append(k, v);
  }

  /// What a step attends: every held token as one segment.
  kvc::stored_view<float> stored() const {
    const std::ptrdiff_t row = std::ptrdiff_t(row_), dim = shape_.head_dim;
    if (size() == 0) return {};
    return {{{{keys_.data(), row, dim}, {values_.data(), row, dim}, 0, size()}}};
  }

  kvc::memory_footprint footprint() const { return {allocated_bytes(), 0, 0}; }
  std::size_t allocated_bytes() const { return (keys_.capacity() + values_.capacity()) * sizeof(float); }
  kvc::transfer_traffic traffic() const { return {}; }
  void clear() {
    std::vector<float>().swap(keys_);
    std::vector<float>().swap(values_);
  }

  /// Registers `streaming:sink=N,window=M` (defaults 4 and 60) with kvc's policy registry.
  static void register_spec() {
    kvc::register_policy("streaming", [](const kvc::policy_spec& spec, const kvc::layer_shape& shape) {
      kvc::spec_reader r(spec);
      const auto sinks = std::size_t(r.integer("sink", 4, 0, 1 << 20));
      const auto window = std::size_t(r.integer("window", 60, 1, 1 << 20));
      r.finish(0);
      return kvc::wrap_policy(streaming_cache(shape, sinks, window), spec.text);
    });
  }

 private:
  void push_row(const kvc::dyn_view3& x, std::size_t i, std::vector<float>& dst) const {
    const std::size_t dim = std::size_t(shape_.head_dim);
    dst.resize(dst.size() + row_);
    float* out = dst.data() + dst.size() - row_;
    for (std::size_t h = 0; h < std::size_t(shape_.kv_heads); ++h)
      kvc::detail::to_f32_row(x.row_ptr(i, h), x.type, out + h * dim, dim);
  }

  kvc::layer_shape shape_;
  std::size_t sinks_, window_, row_;
  std::vector<float> keys_, values_;  // [tokens, kv_heads, head_dim]
};
static_assert(kvc::layer_cache_policy<streaming_cache>);
