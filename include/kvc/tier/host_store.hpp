// The host tier of an offloading cache: token-major keys and values in blocks, filled and read only through tier_link.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <memory>
#include <span>
#include <vector>

#include "kvc/core/kv_segment.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/detail/growth.hpp"
#include "kvc/detail/page_pool.hpp"
#include "kvc/tier/tier_link.hpp"

namespace kvc::detail {

/// Offloaded keys and values of T in blocks of `block_tokens` tokens, each block a page of a
/// pool shared by the layer's sequences, laid out `[2][kv_heads, block_tokens, head_dim]` (keys,
/// then values) so one head's rows of a block are contiguous. A copy of the store is a fork: it
/// shares the blocks, and an offload into a shared, partly filled block copies it first.
/// Host index j is the j-th offloaded token. Rows enter only through `offload` (counted
/// device→host) and leave only through `gather` (counted host→device); kernels that read rows in
/// place (`segments`, `key_row`) must count the read with tier_link::read_from_host.
template <class T>
class host_kv_store {
 public:
  static constexpr std::size_t block_tokens = 1024;

  explicit host_kv_store(const layer_shape& shape)
      : kv_heads_(std::size_t(shape.kv_heads)), dim_(std::size_t(shape.head_dim)),
        block_elems_(kv_heads_ * block_tokens * dim_),
        blocks_(std::make_shared<page_pool>(2 * block_elems_ * sizeof(T), 1)) {}

  std::size_t size() const { return size_; }
  /// Bytes of the blocks this sequence holds (keys and values; shared ones in full).
  std::size_t allocated_bytes() const { return blocks_.bytes(); }
  const page_pool& pool() const { return *blocks_.pool(); }
  /// Adds the pool pages that offloading `count` more tokens takes to `g` (host tier): new
  /// blocks, and a copy of a shared last block.
  void add_growth(std::size_t count, growth& g) const {
    if (count == 0) return;
    const std::size_t need = (size_ + count + block_tokens - 1) / block_tokens;
    g.add_pages(blocks_.pool().get(), need - blocks_.size(), false);
    if (size_ % block_tokens != 0 && blocks_.shared(blocks_.size() - 1))
      g.add_copy(blocks_.pool().get(), blocks_.id(blocks_.size() - 1), false);
  }

  /// Moves one token from the device tier to the end of the host tier.
  /// k, v: `[kv_heads, head_dim]` rows of T, head h at k + h * head_stride.
  void offload(const T* k, const T* v, std::ptrdiff_t head_stride, tier_link& link) {
    T* base;
    if (size_ == blocks_.size() * block_tokens) base = reinterpret_cast<T*>(blocks_.push());
    else base = reinterpret_cast<T*>(blocks_.writable(blocks_.size() - 1, blocks_.pool()->page_bytes()));
    for (std::size_t h = 0; h < kv_heads_; ++h) {
      link.copy_to_host(base + offset(size_, h), k + std::ptrdiff_t(h) * head_stride, dim_ * sizeof(T));
      link.copy_to_host(base + block_elems_ + offset(size_, h), v + std::ptrdiff_t(h) * head_stride, dim_ * sizeof(T));
    }
    ++size_;
  }

  /// Host memory of row j of KV head h (`[head_dim]`); a device kernel reading it counts the read.
  const T* key_row(std::size_t j, std::size_t h) const { return block(j) + offset(j, h); }
  const T* value_row(std::size_t j, std::size_t h) const { return block(j) + block_elems_ + offset(j, h); }

  /// Copies rows `idx` of KV head h to the device: k_dst, v_dst `[idx.size(), head_dim]`.
  void gather(std::size_t h, std::span<const std::uint32_t> idx, T* k_dst, T* v_dst, tier_link& link) const {
    link.gather_to_device(k_dst, idx.size(), dim_ * sizeof(T), [&](std::size_t i) { return key_row(idx[i], h); });
    link.gather_to_device(v_dst, idx.size(), dim_ * sizeof(T), [&](std::size_t i) { return value_row(idx[i], h); });
  }

  /// All rows as segments (one per block, positions = host indices), for kernels that read host
  /// memory in place; the caller counts what they read.
  std::vector<kv_segment<T>> segments() const {
    std::vector<kv_segment<T>> out;
    const std::ptrdiff_t dim = std::ptrdiff_t(dim_), head_stride = std::ptrdiff_t(block_tokens * dim_);
    for (std::size_t b = 0; b < blocks_.size(); ++b) {
      const std::size_t first = b * block_tokens;
      const T* base = reinterpret_cast<const T*>(blocks_.data(b));
      out.push_back({{base, dim, head_stride}, {base + block_elems_, dim, head_stride}, first,
                     std::min(block_tokens, size_ - first)});
    }
    return out;
  }

  /// Keeps host indices < n; blocks past them go back to the pool.
  void truncate(std::size_t n) {
    if (n >= size_) return;
    size_ = n;
    blocks_.resize((n + block_tokens - 1) / block_tokens);
  }
  void clear() { truncate(0); }

 private:
  const T* block(std::size_t j) const { return reinterpret_cast<const T*>(blocks_.data(j / block_tokens)); }
  std::size_t offset(std::size_t j, std::size_t h) const { return (h * block_tokens + j % block_tokens) * dim_; }

  std::size_t kv_heads_, dim_, block_elems_;
  page_list blocks_;
  std::size_t size_ = 0;
};

}  // namespace kvc::detail
