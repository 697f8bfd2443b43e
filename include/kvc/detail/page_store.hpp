// Paged token-major storage of keys and values: pages of [kv_heads, page_tokens, head_dim].
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "kvc/attention/kv_segment.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/detail/convert_row.hpp"
#include "kvc/detail/huge_buffer.hpp"

namespace kvc::detail {

/// Keys and values of T in fixed-size pages, so the allocation grows with the tokens held
/// (at most one partly filled page of slack) and each head's rows of a page are contiguous.
template <class T>
class page_store {
 public:
  page_store(const layer_shape& shape, std::size_t page_tokens)
      : shape_(shape), page_tokens_(page_tokens),
        page_elems_(std::size_t(shape.kv_heads) * page_tokens * std::size_t(shape.head_dim)) {}

  std::size_t size() const { return size_; }
  std::size_t page_tokens() const { return page_tokens_; }
  /// Bytes allocated for keys and values.
  std::size_t allocated_bytes() const { return pages_.size() * 2 * buffer_bytes<T>(page_elems_); }

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
        if (pos / page_tokens_ >= pages_.size()) add_page();
        for (std::size_t h = 0; h < heads; ++h) {
          copy_row(kt.row(i, h), key_row(pos, h), tmp.data(), dim);
          copy_row(vt.row(i, h), value_row(pos, h), tmp.data(), dim);
        }
      }
    });
    size_ += n;
  }

  T* key_row(std::size_t pos, std::size_t head) { return row(pages_[pos / page_tokens_].k.get(), pos, head); }
  T* value_row(std::size_t pos, std::size_t head) { return row(pages_[pos / page_tokens_].v.get(), pos, head); }
  const T* key_row(std::size_t pos, std::size_t head) const { return row(pages_[pos / page_tokens_].k.get(), pos, head); }
  const T* value_row(std::size_t pos, std::size_t head) const { return row(pages_[pos / page_tokens_].v.get(), pos, head); }

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

  /// Drops positions >= new_size (whole pages freed when empty).
  void truncate(std::size_t new_size) {
    if (new_size >= size_) return;
    size_ = new_size;
    pages_.resize((size_ + page_tokens_ - 1) / page_tokens_);
  }
  void clear() {
    pages_.clear();
    size_ = 0;
  }

 private:
  struct page {
    std::unique_ptr<T[], free_deleter> k, v;  // [kv_heads, page_tokens, head_dim]
  };
  template <class S>
  static void copy_row(const S* src, T* dst, float* tmp, std::size_t dim) {
    if constexpr (std::is_same_v<S, T>) {
      std::copy(src, src + dim, dst);
    } else {
      to_f32_row(src, tmp, dim);
      from_f32_row(tmp, dst, dim);
    }
  }
  T* row(T* base, std::size_t pos, std::size_t head) const {
    return base + (head * page_tokens_ + pos % page_tokens_) * std::size_t(shape_.head_dim);
  }
  void add_page() {
    pages_.push_back({make_buffer<T>(page_elems_), make_buffer<T>(page_elems_)});
  }

  layer_shape shape_;
  std::size_t page_tokens_;
  std::size_t page_elems_;
  std::vector<page> pages_;
  std::size_t size_ = 0;
};

}  // namespace kvc::detail
