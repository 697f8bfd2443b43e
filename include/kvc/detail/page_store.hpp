// Paged token-major storage of one sequence's keys and values: pages of [2][kv_heads, page_tokens,
// head_dim] from a pool shared by the layer's sequences.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include "kvc/core/kv_segment.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/detail/convert_row.hpp"
#include "kvc/detail/growth.hpp"
#include "kvc/detail/page_pool.hpp"

namespace kvc::detail {

/// Keys and values of T in fixed-size pages, so each head's rows of a page are contiguous.
///
/// Pages come from a page_pool shared by every sequence of the layer (a copy of the store is a
/// fork: it shares the pages; `empty_like` is a new sequence on the same pool). A page holds
/// `[2][kv_heads, page_tokens, head_dim]`: keys, then values. Writing into a page another
/// sequence also holds copies it first. The pool's slab rule keeps a large cache on huge pages
/// (a decode streams the whole cache, and on 4 KiB pages it stalled on TLB misses: a 32k bf16
/// decode ran 5–8 % slower).
template <class T>
class page_store {
 public:
  page_store(const layer_shape& shape, std::size_t page_tokens)
      : shape_(shape), page_tokens_(page_tokens),
        page_elems_(std::size_t(shape.kv_heads) * page_tokens * std::size_t(shape.head_dim)),
        pages_(std::make_shared<page_pool>(2 * page_elems_ * sizeof(T))) {}

  /// A new, empty sequence sharing this one's pool.
  page_store empty_like() const {
    page_store s(*this);
    s.truncate(0);
    return s;
  }

  std::size_t size() const { return size_; }
  std::size_t page_tokens() const { return page_tokens_; }
  const page_pool& pool() const { return *pages_.pool(); }
  /// Bytes of the pages this sequence holds (shared ones in full).
  std::size_t allocated_bytes() const { return pages_.bytes(); }
  /// Of allocated_bytes(), those that hold no token yet (the rest of the last page).
  std::size_t reserved_bytes() const { return allocated_bytes() - size_ * token_bytes(); }
  /// Bytes of keys and values of one token.
  std::size_t token_bytes() const { return 2 * std::size_t(shape_.kv_heads) * std::size_t(shape_.head_dim) * sizeof(T); }

  /// Adds the pages an append of n tokens would take from the pool to `g`: new pages, and a
  /// copy of a shared last page it writes into.
  void add_growth(std::size_t n, growth& g, bool device = true) const {
    if (n == 0) return;
    const std::size_t need = (size_ + n + page_tokens_ - 1) / page_tokens_;
    g.add_pages(pages_.pool().get(), need - pages_.size(), device);
    if (size_ % page_tokens_ != 0 && pages_.shared(pages_.size() - 1))
      g.add_copy(pages_.pool().get(), pages_.id(pages_.size() - 1), device);
  }

  /// Appends k, v `[n, kv_heads, head_dim]` of any dtype, converting to T.
  void append(const dyn_view3& k, const dyn_view3& v) {
    const std::size_t n = k.extent(0), heads = std::size_t(shape_.kv_heads), dim = std::size_t(shape_.head_dim);
    if (n == 0) return;
    // make every page this append writes the sequence's own first (new, or a copy of a shared one)
    const std::size_t need = (size_ + n + page_tokens_ - 1) / page_tokens_;
    if (size_ % page_tokens_ != 0) pages_.writable(pages_.size() - 1, pages_.pool()->page_bytes());
    while (pages_.size() < need) pages_.push();
    visit_dtype(k.type, [&](auto tag) {
      using S = decltype(tag);
      const auto kt = k.as<S>();
      const auto vt = v.as<S>();
      std::vector<float> tmp(dim);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t pos = size_ + i;
        for (std::size_t h = 0; h < heads; ++h) {
          convert_row(kt.row(i, h), mutable_row(pos, h, 0), tmp.data(), dim);
          convert_row(vt.row(i, h), mutable_row(pos, h, 1), tmp.data(), dim);
        }
      }
    });
    size_ += n;
  }

  const T* key_row(std::size_t pos, std::size_t head) const { return row(pos, head, 0); }
  const T* value_row(std::size_t pos, std::size_t head) const { return row(pos, head, 1); }

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

  /// Keeps positions < new_size; pages no longer used go back to the pool.
  void truncate(std::size_t new_size) {
    if (new_size >= size_) return;
    size_ = new_size;
    pages_.resize((size_ + page_tokens_ - 1) / page_tokens_);
  }
  void clear() { truncate(0); }

 private:
  const T* row(std::size_t pos, std::size_t head, int which) const {
    const T* page = reinterpret_cast<const T*>(pages_.data(pos / page_tokens_));
    return page + std::size_t(which) * page_elems_ + (head * page_tokens_ + pos % page_tokens_) * std::size_t(shape_.head_dim);
  }
  // the caller made the page writable (append takes every page it writes first)
  T* mutable_row(std::size_t pos, std::size_t head, int which) { return const_cast<T*>(row(pos, head, which)); }

  layer_shape shape_;
  std::size_t page_tokens_;
  std::size_t page_elems_;  // elements of keys (or values) in one page
  page_list pages_;
  std::size_t size_ = 0;
};

}  // namespace kvc::detail
