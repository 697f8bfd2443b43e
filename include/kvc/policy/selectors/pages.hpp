// The page selector (Quest): per-page min/max key bounds, pages ranked by an upper bound of q·k.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kvc/detail/topk.hpp"
#include "kvc/detail/growth.hpp"
#include "kvc/policy/selectors/selector.hpp"

namespace kvc {

/// Quest-style selection over pages of `page` consecutive host tokens.
///
/// Metadata (host tier, f32): per KV head and page, the channel-wise min and max of the keys,
/// `[pages, 2, head_dim]`, updated as tokens are offloaded. Per decode step and KV head: page
/// score Σ_c max(qsum_c·min_c, qsum_c·max_c) (an upper bound of qsum·k for every key in the
/// page), reading all bounds (counted host→device); pages taken best first and their tokens
/// added until `count` tokens (the last page taken may be cut short, so the budget is exact).
template <class T>
class page_selector {
 public:
  static constexpr const char* name = "pages";

  page_selector(const layer_shape& shape, std::size_t page)
      : kv_heads_(std::size_t(shape.kv_heads)), dim_(std::size_t(shape.head_dim)), page_(page),
        bounds_(kv_heads_), scratch_(kv_heads_) {}

  void on_offload(std::size_t j, const T* k, std::ptrdiff_t head_stride) {
    tokens_ = j + 1;
    for (std::size_t h = 0; h < kv_heads_; ++h) {
      const T* kh = k + std::ptrdiff_t(h) * head_stride;
      auto& b = bounds_[h];
      if (j % page_ == 0) {
        if (b.size() == b.capacity()) b.reserve(capacity_for(b.size() / (2 * dim_) + 1));
        b.resize(b.size() + 2 * dim_);
        float* mn = &b[b.size() - 2 * dim_];
        for (std::size_t c = 0; c < dim_; ++c) mn[c] = mn[dim_ + c] = to_float(kh[c]);
      } else {
        float* mn = &b[(j / page_) * 2 * dim_];
        for (std::size_t c = 0; c < dim_; ++c) {
          const float x = to_float(kh[c]);
          mn[c] = std::min(mn[c], x);
          mn[dim_ + c] = std::max(mn[dim_ + c], x);
        }
      }
    }
  }
  bool prefetch(const float*, const detail::host_kv_store<T>&, detail::tier_link&, std::size_t) { return false; }
  void end_step() {}

  void select(std::size_t h, const float* qsum, const detail::host_kv_store<T>& host, std::size_t count,
              detail::tier_link& link, std::uint32_t* out) {
    auto& s = scratch_[h];
    const std::size_t n = host.size(), pages = (n + page_ - 1) / page_;
    const float* b = link.read_from_host(bounds_[h].data(), pages * 2 * dim_);
    s.scores.resize(pages);
    for (std::size_t p = 0; p < pages; ++p) {
      const float* mn = b + p * 2 * dim_;
      const float* mx = mn + dim_;
      float sc = 0.0f;
#pragma omp simd reduction(+ : sc)
      for (std::size_t c = 0; c < dim_; ++c) sc += std::max(qsum[c] * mn[c], qsum[c] * mx[c]);
      s.scores[p] = sc;
    }
    // Enough pages to cover `count` tokens even if the short last page is among them.
    const std::size_t want = std::min(pages, (count + page_ - 1) / page_ + 1);
    s.pages.resize(want);
    detail::top_k_indices(s.scores.data(), pages, want, s.tmp, s.pages.data());
    std::sort(s.pages.begin(), s.pages.end(), [&](std::uint32_t a, std::uint32_t c) {
      return s.scores[a] > s.scores[c] || (s.scores[a] == s.scores[c] && a < c);
    });
    std::size_t m = 0;
    for (std::size_t i = 0; i < want && m < count; ++i)
      for (std::size_t j = s.pages[i] * page_; j < std::min(n, (s.pages[i] + 1) * page_) && m < count; ++j)
        out[m++] = std::uint32_t(j);
  }

  memory_footprint footprint() const {
    std::size_t bytes = 0;
    for (const auto& b : bounds_) bytes += b.capacity() * sizeof(float);
    return {0, bytes, bytes};
  }
  // The bounds are each sequence's own (a fork copies them): nothing pooled.
  memory_footprint pooled_footprint() const { return {}; }
  memory_footprint pool_footprint() const { return {}; }
  /// Adds what offloading `count` more tokens allocates (bounds grow in steps of grow_pages pages).
  void add_growth(std::size_t count, detail::growth& g) const {
    if (count == 0) return;
    const std::size_t pages = (tokens() + count + page_ - 1) / page_;
    for (const auto& b : bounds_) {
      const std::size_t cap = b.capacity() / (2 * dim_);
      if (pages > cap) {
        const std::size_t bytes = (capacity_for(pages) - b.capacity()) * sizeof(float);
        g.direct.host_bytes += bytes;
        g.direct.metadata_bytes += bytes;
      }
    }
  }
  /// Keeps host tokens < n, re-deriving the bounds of a cut page from the host rows.
  void truncate(std::size_t n, const detail::host_kv_store<T>& host) {
    if (n >= tokens_) return;
    if (n == 0) return clear();
    tokens_ = n;
    const std::size_t pages = (n + page_ - 1) / page_;
    for (std::size_t h = 0; h < kv_heads_; ++h) {
      auto& b = bounds_[h];
      b.resize(std::min(b.size(), pages * 2 * dim_));
      // a cut inside a page: its bounds are those of the tokens it keeps (also when no whole page goes)
      if (n % page_ == 0) continue;
      float* mn = &b[(pages - 1) * 2 * dim_];
      for (std::size_t j = (pages - 1) * page_; j < n; ++j) {
        const T* k = host.key_row(j, h);
        for (std::size_t c = 0; c < dim_; ++c) {
          const float x = to_float(k[c]);
          mn[c] = j % page_ == 0 ? x : std::min(mn[c], x);
          mn[dim_ + c] = j % page_ == 0 ? x : std::max(mn[dim_ + c], x);
        }
      }
    }
  }
  void clear() {
    tokens_ = 0;
    for (auto& b : bounds_) std::vector<float>().swap(b);
  }

 private:
  struct scratch {
    std::vector<float> scores;
    detail::top_k_scratch tmp;
    std::vector<std::uint32_t> pages;
  };
  static constexpr std::size_t grow_pages = 64;  // bounds capacity grows by this many pages
  std::size_t capacity_for(std::size_t pages) const { return (pages + grow_pages - 1) / grow_pages * grow_pages * 2 * dim_; }
  std::size_t tokens() const { return tokens_; }

  std::size_t kv_heads_, dim_, page_;
  std::size_t tokens_ = 0;  // host tokens bounded
  std::vector<std::vector<float>> bounds_;  // host: [kv_heads][pages, 2, head_dim] (min row, max row)
  std::vector<scratch> scratch_;            // [kv_heads], per-step workspace (not counted)
};

}  // namespace kvc
