// A run of consecutive token positions of one layer's keys and values, as strided rows.
#pragma once

#include <cstddef>

namespace kvc {

/// Rows of one tensor laid out as [tokens, kv_heads, head_dim] with arbitrary token and head
/// strides (in elements); the head_dim row itself is contiguous.
template <class T>
struct strided_rows {
  const T* data = nullptr;
  std::ptrdiff_t token_stride = 0;
  std::ptrdiff_t head_stride = 0;
  const T* row(std::size_t token, std::size_t head) const {
    return data + std::ptrdiff_t(token) * token_stride + std::ptrdiff_t(head) * head_stride;
  }
};

/// Keys and values of positions [start, start + tokens) of one layer.
template <class T>
struct kv_segment {
  strided_rows<T> k;  // [tokens, kv_heads, head_dim]
  strided_rows<T> v;  // [tokens, kv_heads, head_dim]
  std::size_t start = 0;
  std::size_t tokens = 0;
};

}  // namespace kvc
