// Paged token-major storage of keys and values: pages of [kv_heads, page_tokens, head_dim] in
// blocks that grow to huge-page slabs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include "kvc/core/kv_segment.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/detail/convert_row.hpp"
#include "kvc/detail/huge_buffer.hpp"

namespace kvc::detail {

/// Keys and values of T in fixed-size pages, so each head's rows of a page are contiguous.
///
/// Pages come from blocks of consecutive pages, one for keys and one for values. A small store
/// takes a page per block; once it holds `slab_after` slabs' worth, each new block is a slab of
/// at least 2 MiB (huge_page_bytes), so that a large cache sits on transparent huge pages: a
/// decode streams the whole cache, and on 4 KiB pages it stalls on TLB misses (a 32k bf16
/// decode ran 5–8 % slower). The slack, reported by reserved_bytes(), is thus at most one page
/// or a fifth of the allocation, whichever is larger.
template <class T>
class page_store {
 public:
  page_store(const layer_shape& shape, std::size_t page_tokens)
      : shape_(shape), page_tokens_(page_tokens),
        page_elems_(std::size_t(shape.kv_heads) * page_tokens * std::size_t(shape.head_dim)),
        pages_per_slab_(std::max<std::size_t>(1, huge_page_bytes / (page_elems_ * sizeof(T)))) {}

  std::size_t size() const { return size_; }
  std::size_t page_tokens() const { return page_tokens_; }
  /// Bytes allocated for keys and values.
  std::size_t allocated_bytes() const {
    std::size_t bytes = 0;
    for (const block& b : blocks_) bytes += 2 * buffer_bytes<T>(b.pages * page_elems_);
    return bytes;
  }
  /// Of allocated_bytes(), those that hold no token yet (the rest of the last page and block).
  std::size_t reserved_bytes() const {
    return allocated_bytes() - size_ * 2 * std::size_t(shape_.kv_heads) * std::size_t(shape_.head_dim) * sizeof(T);
  }

  /// Appends k, v `[n, kv_heads, head_dim]` of any dtype, converting to T.
  void append(const dyn_view3& k, const dyn_view3& v) {
    const std::size_t n = k.extent(0), heads = std::size_t(shape_.kv_heads), dim = std::size_t(shape_.head_dim);
    visit_dtype(k.type, [&](auto tag) {
      using S = decltype(tag);
      const auto kt = k.as<S>();
      const auto vt = v.as<S>();
      std::vector<float> tmp(dim);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t pos = size_ + i;
        if (pos / page_tokens_ >= k_pages_.size()) add_page();
        for (std::size_t h = 0; h < heads; ++h) {
          convert_row(kt.row(i, h), key_row(pos, h), tmp.data(), dim);
          convert_row(vt.row(i, h), value_row(pos, h), tmp.data(), dim);
        }
      }
    });
    size_ += n;
  }

  T* key_row(std::size_t pos, std::size_t head) { return row(k_pages_[pos / page_tokens_], pos, head); }
  T* value_row(std::size_t pos, std::size_t head) { return row(v_pages_[pos / page_tokens_], pos, head); }
  const T* key_row(std::size_t pos, std::size_t head) const { return row(k_pages_[pos / page_tokens_], pos, head); }
  const T* value_row(std::size_t pos, std::size_t head) const { return row(v_pages_[pos / page_tokens_], pos, head); }

  /// Stored positions [first, last) as segments, one per page touched.
  std::vector<kv_segment<T>> segments(std::size_t first, std::size_t last) const {
    std::vector<kv_segment<T>> out;
    const std::ptrdiff_t dim = shape_.head_dim, head_stride = std::ptrdiff_t(page_tokens_) * dim;
    for (std::size_t pos = first; pos < last;) {
      const std::size_t p = pos / page_tokens_;
      const std::size_t end = std::min(last, (p + 1) * page_tokens_);
      out.push_back({{key_row(pos, 0), dim, head_stride}, {value_row(pos, 0), dim, head_stride}, pos, end - pos});
      pos = end;
    }
    return out;
  }

  /// Drops positions >= new_size (blocks freed when none of their pages is used).
  void truncate(std::size_t new_size) {
    if (new_size >= size_) return;
    size_ = new_size;
    const std::size_t pages = (size_ + page_tokens_ - 1) / page_tokens_;
    k_pages_.resize(pages);
    v_pages_.resize(pages);
    while (!blocks_.empty() && blocks_.back().first_page >= pages) blocks_.pop_back();
  }
  void clear() { truncate(0); }

 private:
  /// Slabs' worth held before blocks grow from one page to a slab.
  static constexpr std::size_t slab_after = 4;
  struct block {
    std::size_t first_page, pages;
    std::unique_ptr<T[], free_deleter> k, v;  // `pages` pages of [kv_heads, page_tokens, head_dim]
  };
  T* row(T* page, std::size_t pos, std::size_t head) const {
    return page + (head * page_tokens_ + pos % page_tokens_) * std::size_t(shape_.head_dim);
  }
  void add_page() {
    const std::size_t i = k_pages_.size();
    if (blocks_.empty() || i == blocks_.back().first_page + blocks_.back().pages) {
      const std::size_t n = i >= slab_after * pages_per_slab_ ? pages_per_slab_ : 1;
      blocks_.push_back({i, n, make_buffer<T>(n * page_elems_), make_buffer<T>(n * page_elems_)});
    }
    const block& b = blocks_.back();
    k_pages_.push_back(b.k.get() + (i - b.first_page) * page_elems_);
    v_pages_.push_back(b.v.get() + (i - b.first_page) * page_elems_);
  }

  layer_shape shape_;
  std::size_t page_tokens_;
  std::size_t page_elems_;
  std::size_t pages_per_slab_;
  std::vector<block> blocks_;
  std::vector<T*> k_pages_, v_pages_;  // page i of keys and values, within blocks_
  std::size_t size_ = 0;
};

}  // namespace kvc::detail
