// Writing your own policy: a StreamingLLM-style cache (sink tokens + a recent window, the rest
// evicted) built from kvc's pieces, checked by the layer_cache_policy concept, used in kv_cache
// through detail::erase — no change to the library needed.
#include <cstdio>
#include <deque>
#include <random>
#include <span>
#include <vector>

#include "kvc/kvc.hpp"

/// Keeps the first `sinks` tokens and the last `window` tokens in f32; older tokens are dropped.
class streaming_cache {
 public:
  streaming_cache(const kvc::layer_shape& shape, std::size_t sinks, std::size_t window)
      : shape_(shape), sinks_(sinks), window_(window), row_(std::size_t(shape.kv_heads * shape.head_dim)) {}

  const kvc::layer_shape& shape() const { return shape_; }
  std::size_t size() const { return keys_.size() / row_; }

  void append(const kvc::dyn_view3& k, const kvc::dyn_view3& v) {
    kvc::detail::check_kv(shape_, k, v);
    const auto kt = k.as<float>(), vt = v.as<float>();  // this example stores f32 input only
    for (std::size_t i = 0; i < k.extent(0); ++i) {
      keys_.insert(keys_.end(), kt.row(i, 0), kt.row(i, 0) + row_);
      values_.insert(values_.end(), vt.row(i, 0), vt.row(i, 0) + row_);
      if (size() > sinks_ + window_) {  // evict the oldest non-sink token
        keys_.erase(keys_.begin() + long(sinks_ * row_), keys_.begin() + long((sinks_ + 1) * row_));
        values_.erase(values_.begin() + long(sinks_ * row_), values_.begin() + long((sinks_ + 1) * row_));
      }
    }
  }

  void append_and_attend(const kvc::dyn_view3& q, const kvc::dyn_view3& k, const kvc::dyn_view3& v,
                         const kvc::tensor_view<float, 3>& out) {
    kvc::detail::attention_step(shape_, q, k, v, out, [&](const float* qs, std::size_t n, kvc::softmax_state& st) {
      const std::ptrdiff_t row = std::ptrdiff_t(row_), dim = shape_.head_dim;
      const kvc::kv_segment<float> held{{keys_.data(), row, dim}, {values_.data(), row, dim}, 0, size()};
      kvc::attend_dense<float>(qs, n, shape_, std::span<const kvc::kv_segment<float>>(&held, 1), kvc::all_visible, st);
    });
    append(k, v);
  }

  kvc::memory_footprint footprint() const { return {(keys_.capacity() + values_.capacity()) * sizeof(float), 0, 0}; }
  kvc::transfer_traffic traffic() const { return {}; }
  void clear() { keys_.clear(), values_.clear(); }

 private:
  kvc::layer_shape shape_;
  std::size_t sinks_, window_, row_;
  std::vector<float> keys_, values_;  // [tokens, kv_heads, head_dim]
};
static_assert(kvc::layer_cache_policy<streaming_cache>);

int main() {
  const kvc::layer_shape shape{4, 1, 32};
  streaming_cache cache(shape, 4, 60);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> q(4 * 32), k(32), v(32), out(4 * 32);
  for (int t = 0; t < 500; ++t) {
    for (auto* x : {&q, &k, &v})
      for (float& e : *x) e = normal(rng);
    cache.append_and_attend(kvc::tensor_view<const float, 3>(q.data(), {1, 4, 32}),
                            kvc::tensor_view<const float, 3>(k.data(), {1, 1, 32}),
                            kvc::tensor_view<const float, 3>(v.data(), {1, 1, 32}),
                            kvc::tensor_view<float, 3>(out.data(), {1, 4, 32}));
  }
  std::printf("after 500 steps the streaming cache holds %zu tokens (4 sinks + 60 recent)\n", cache.size());
  return cache.size() == 64 ? 0 : 1;
}
