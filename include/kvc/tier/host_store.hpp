// The host tier of an offloading cache: token-major keys and values in blocks, filled and read only through tier_link.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kvc/core/kv_segment.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/detail/huge_buffer.hpp"
#include "kvc/tier/tier_link.hpp"

namespace kvc::detail {

/// Offloaded keys and values of T in blocks of `block_tokens` tokens, each block laid out
/// `[kv_heads, block_tokens, head_dim]` so one head's rows of a block are contiguous.
/// Host index j is the j-th offloaded token. Rows enter only through `offload` (counted
/// device→host) and leave only through `gather` (counted host→device); kernels that read rows in
/// place (`segments`, `key_row`) must count the read with tier_link::read_from_host.
template <class T>
class host_kv_store {
 public:
  static constexpr std::size_t block_tokens = 1024;

  explicit host_kv_store(const layer_shape& shape)
      : kv_heads_(std::size_t(shape.kv_heads)), dim_(std::size_t(shape.head_dim)),
        block_elems_(kv_heads_ * block_tokens * dim_) {}

  std::size_t size() const { return size_; }
  /// Bytes allocated (whole blocks, keys and values).
  std::size_t allocated_bytes() const { return blocks_.size() * 2 * buffer_bytes<T>(block_elems_); }

  /// Moves one token from the device tier to the end of the host tier.
  /// k, v: `[kv_heads, head_dim]` rows of T, head h at k + h * head_stride.
  void offload(const T* k, const T* v, std::ptrdiff_t head_stride, tier_link& link) {
    if (size_ == blocks_.size() * block_tokens) add_block();
    for (std::size_t h = 0; h < kv_heads_; ++h) {
      link.copy_to_host(mutable_row(blocks_.back().k.get(), size_, h), k + std::ptrdiff_t(h) * head_stride,
                        dim_ * sizeof(T));
      link.copy_to_host(mutable_row(blocks_.back().v.get(), size_, h), v + std::ptrdiff_t(h) * head_stride,
                        dim_ * sizeof(T));
    }
    ++size_;
  }

  /// Host memory of row j of KV head h (`[head_dim]`); a device kernel reading it counts the read.
  const T* key_row(std::size_t j, std::size_t h) const { return row(blocks_[j / block_tokens].k.get(), j, h); }
  const T* value_row(std::size_t j, std::size_t h) const { return row(blocks_[j / block_tokens].v.get(), j, h); }

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
      out.push_back({{blocks_[b].k.get(), dim, head_stride}, {blocks_[b].v.get(), dim, head_stride}, first,
                     std::min(block_tokens, size_ - first)});
    }
    return out;
  }

  void clear() {
    blocks_.clear();
    size_ = 0;
  }

 private:
  struct block {
    std::unique_ptr<T[], free_deleter> k, v;  // [kv_heads, block_tokens, head_dim]
  };
  const T* row(const T* base, std::size_t j, std::size_t h) const {
    return base + (h * block_tokens + j % block_tokens) * dim_;
  }
  T* mutable_row(T* base, std::size_t j, std::size_t h) { return base + (h * block_tokens + j % block_tokens) * dim_; }
  void add_block() {
    blocks_.push_back({make_buffer<T>(block_elems_), make_buffer<T>(block_elems_)});
  }

  std::size_t kv_heads_, dim_, block_elems_;
  std::vector<block> blocks_;
  std::size_t size_ = 0;
};

}  // namespace kvc::detail
