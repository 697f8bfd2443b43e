// The dominant-channel selector (TailorKV/SparQ): score host tokens on the d_s channels with the largest |q|·max|K|.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kvc/detail/topk.hpp"
#include "kvc/detail/growth.hpp"
#include "kvc/detail/page_pool.hpp"
#include "kvc/policy/selectors/selector.hpp"

namespace kvc {

/// Dominant-channel selection.
///
/// Metadata: a channel-major copy of the host keys (host tier, blocks of
/// `[kv_heads, head_dim, block_tokens]`, so one channel of one head is a contiguous run of
/// tokens), built on the host side from the offloaded rows (no extra crossing), and
/// max|K| per (KV head, channel) over the host tokens, maintained incrementally on the device
/// (f32, `[kv_heads, head_dim]`).
///
/// Per decode step and KV head: channel score |qsum_c| · max|K_c| (qsum = the group's summed
/// query, TailorKV's mean up to a factor), the d_s largest channels; token score
/// Σ_{c chosen} qsum_c · K[t][c], streaming only those d_s channel rows (counted host→device as
/// zero-copy reads); top-k. With `prefetch`, channels come from the predicted query and their rows
/// are copied to a device buffer `[kv_heads, d_s, capacity]` at hint time (counted then); the
/// step then scores those rows with the real query without crossing (only tokens offloaded after
/// the hint are read from the host).
template <class T>
class channel_selector {
 public:
  static constexpr const char* name = "channels";
  static constexpr std::size_t block_tokens = detail::host_kv_store<T>::block_tokens;

  channel_selector(const layer_shape& shape, std::size_t channels)
      : kv_heads_(std::size_t(shape.kv_heads)), dim_(std::size_t(shape.head_dim)), ds_(channels),
        blocks_(std::make_shared<detail::page_pool>(kv_heads_ * dim_ * block_tokens * sizeof(T), 1)),
        max_abs_(kv_heads_ * dim_, 0.0f), chans_(kv_heads_ * ds_), scratch_(kv_heads_) {}
  /// A fork: shares the channel-major blocks, copies max|K|; the prefetch buffer is not copied.
  channel_selector(const channel_selector& o)
      : kv_heads_(o.kv_heads_), dim_(o.dim_), ds_(o.ds_), blocks_(o.blocks_), tokens_(o.tokens_), max_abs_(o.max_abs_),
        chans_(o.chans_), scratch_(o.kv_heads_) {}
  channel_selector(channel_selector&&) noexcept = default;
  channel_selector& operator=(channel_selector&&) noexcept = default;

  void on_offload(std::size_t j, const T* k, std::ptrdiff_t head_stride) {
    T* block;
    if (j == blocks_.size() * block_tokens) block = reinterpret_cast<T*>(blocks_.push());
    else block = reinterpret_cast<T*>(blocks_.writable(blocks_.size() - 1, blocks_.pool()->page_bytes()));
    tokens_ = j + 1;
    T* base = block + j % block_tokens;
    for (std::size_t h = 0; h < kv_heads_; ++h) {
      const T* kh = k + std::ptrdiff_t(h) * head_stride;
      float* mx = &max_abs_[h * dim_];
      for (std::size_t c = 0; c < dim_; ++c) {
        base[(h * dim_ + c) * block_tokens] = kh[c];
        mx[c] = std::max(mx[c], std::fabs(to_float(kh[c])));
      }
    }
  }

  bool prefetch(const float* qsum_all, const detail::host_kv_store<T>& host, detail::tier_link& link,
                std::size_t device_bytes_allowed) {
    const std::size_t n = host.size();
    if (n == 0) return false;
    if (pf_cap_ < n) {
      const std::size_t cap = std::max(n, pf_cap_ + pf_cap_ / 4 + 256);
      const std::size_t grow = (cap - pf_cap_) * kv_heads_ * ds_ * sizeof(T);
      if (grow > device_bytes_allowed) return false;  // the device budget holds: no prefetch
      pf_.reset();
      pf_ = std::make_unique_for_overwrite<T[]>(cap * kv_heads_ * ds_);
      pf_cap_ = cap;
    }
    for (std::size_t h = 0; h < kv_heads_; ++h) {
      std::uint32_t* ch = &chans_[h * ds_];
      choose_channels(h, qsum_all + h * dim_, ch);
      for (std::size_t i = 0; i < ds_; ++i)
        for (std::size_t first = 0; first < n; first += block_tokens)
          link.copy_to_device(&pf_[(h * ds_ + i) * pf_cap_ + first], channel_row(first, h, ch[i]),
                              std::min(block_tokens, n - first) * sizeof(T));
    }
    pf_tokens_ = n;
    pf_valid_ = true;
    return true;
  }
  void end_step() { pf_valid_ = false; }

  void select(std::size_t h, const float* qsum, const detail::host_kv_store<T>& host, std::size_t count,
              detail::tier_link& link, std::uint32_t* out) {
    auto& s = scratch_[h];
    const std::size_t n = host.size();
    s.scores.assign(n, 0.0f);
    std::uint32_t* ch = &chans_[h * ds_];
    std::size_t first = 0;
    if (pf_valid_) {
      first = std::min(pf_tokens_, n);
      for (std::size_t i = 0; i < ds_; ++i)
        detail::axpy_row(qsum[ch[i]], &pf_[(h * ds_ + i) * pf_cap_], s.scores.data(), first);
    } else {
      choose_channels(h, qsum, ch);
    }
    // Stream the chosen channel rows from the host, block by block (zero-copy, counted).
    for (std::size_t b0 = first; b0 < n;) {
      const std::size_t b1 = std::min(n, (b0 / block_tokens + 1) * block_tokens);
      for (std::size_t i = 0; i < ds_; ++i)
        detail::axpy_row(qsum[ch[i]], link.read_from_host(channel_row(b0, h, ch[i]), b1 - b0),
                         s.scores.data() + b0, b1 - b0);
      b0 = b1;
    }
    detail::top_k_indices(s.scores.data(), n, count, s.tmp, out);
  }

  /// The channels of KV head h used by the last selection or prefetch (ascending), `[d_s]`.
  std::vector<std::uint32_t> channels(std::size_t h) const {
    return {chans_.begin() + std::ptrdiff_t(h * ds_), chans_.begin() + std::ptrdiff_t((h + 1) * ds_)};
  }

  memory_footprint footprint() const {
    const std::size_t dev = max_abs_.size() * sizeof(float) + pf_cap_ * kv_heads_ * ds_ * sizeof(T);
    const std::size_t host = blocks_.bytes();
    return {dev, host, dev + host};
  }
  /// Of footprint(), the pool pages (shared ones included); and the pool itself, counted once.
  memory_footprint pooled_footprint() const { return {0, blocks_.bytes(), blocks_.bytes(), 0}; }
  memory_footprint pool_footprint() const { return blocks_.pool()->footprint(false, true); }
  /// Adds what offloading `count` more tokens allocates (channel-major blocks on the host).
  void add_growth(std::size_t count, detail::growth& g) const {
    if (count == 0) return;
    const std::size_t need = (tokens_ + count + block_tokens - 1) / block_tokens;
    g.add_pages(blocks_.pool().get(), need - blocks_.size(), false, true);
    if (tokens_ % block_tokens != 0 && blocks_.shared(blocks_.size() - 1))
      g.add_copy(blocks_.pool().get(), blocks_.id(blocks_.size() - 1), false, true);
  }
  /// Keeps host tokens < n and re-derives max|K| over them from the channel-major copy.
  void truncate(std::size_t n, const detail::host_kv_store<T>&) {
    if (n >= tokens_) return;
    tokens_ = n;
    blocks_.resize((n + block_tokens - 1) / block_tokens);
    std::fill(max_abs_.begin(), max_abs_.end(), 0.0f);
    for (std::size_t h = 0; h < kv_heads_; ++h)
      for (std::size_t c = 0; c < dim_; ++c) {
        float m = 0.0f;
        for (std::size_t j0 = 0; j0 < n; j0 += block_tokens) {
          const T* row = channel_row(j0, h, c);
          for (std::size_t t = 0; t < std::min(block_tokens, n - j0); ++t) m = std::max(m, std::fabs(to_float(row[t])));
        }
        max_abs_[h * dim_ + c] = m;
      }
    pf_valid_ = false;
  }
  void clear() {
    blocks_.resize(0);
    tokens_ = 0;
    std::fill(max_abs_.begin(), max_abs_.end(), 0.0f);
    pf_valid_ = false;
    pf_tokens_ = 0;
  }

 private:
  /// Host memory of channel c of head h from host index j to the end of j's block.
  const T* channel_row(std::size_t j, std::size_t h, std::size_t c) const {
    return reinterpret_cast<const T*>(blocks_.data(j / block_tokens)) + (h * dim_ + c) * block_tokens + j % block_tokens;
  }
  void choose_channels(std::size_t h, const float* qsum, std::uint32_t* out) {
    auto& s = scratch_[h];
    s.channel_scores.resize(dim_);
    for (std::size_t c = 0; c < dim_; ++c) s.channel_scores[c] = std::fabs(qsum[c]) * max_abs_[h * dim_ + c];
    detail::top_k_indices(s.channel_scores.data(), dim_, ds_, s.tmp, out);
    std::sort(out, out + ds_);
  }

  struct scratch {
    std::vector<float> scores, channel_scores;
    detail::top_k_scratch tmp;
  };
  std::size_t kv_heads_, dim_, ds_;
  detail::page_list blocks_;  // host pool pages: [kv_heads, head_dim, block_tokens] each
  std::size_t tokens_ = 0;    // host tokens copied
  std::vector<float> max_abs_;                // device: [kv_heads, head_dim]
  std::unique_ptr<T[]> pf_;                   // device: [kv_heads, d_s, pf_cap_] prefetched rows
  std::size_t pf_cap_ = 0, pf_tokens_ = 0;
  bool pf_valid_ = false;
  std::vector<std::uint32_t> chans_;  // [kv_heads, d_s] chosen channels
  std::vector<scratch> scratch_;      // [kv_heads], per-step workspace (not counted)
};

}  // namespace kvc
