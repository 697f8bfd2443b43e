// The checks every append-and-attend entry point makes: shapes, dtypes, contiguity and memory space.
#pragma once

#include <array>
#include <cstddef>

#include "kvc/core/layer_shape.hpp"
#include "kvc/core/memory_space.hpp"
#include "kvc/core/tensor_view.hpp"

namespace kvc {

/// Checks k, v `[n, kv_heads, head_dim]` against the layer shape (same dtype, contiguous rows,
/// host or pinned host memory, as a CPU cache reads them); returns n. Throws kvc::error
/// naming the argument and the expected value.
inline std::size_t check_kv(const layer_shape& shape, const dyn_view3& k, const dyn_view3& v) {
  const std::size_t n = k.extent(0);
  const std::array<std::size_t, 3> kv_shape{n, std::size_t(shape.kv_heads), std::size_t(shape.head_dim)};
  detail::check_shape(k, kv_shape, "k", "[n, kv_heads, head_dim]");
  detail::check_shape(v, kv_shape, "v", "[n, kv_heads, head_dim]");
  detail::require(k.type == v.type, "k and v must have the same dtype, got ", dtype_name(k.type), " and ",
                  dtype_name(v.type));
  detail::require(k.strides[2] == 1 && v.strides[2] == 1, "k and v rows (head_dim) must be contiguous");
  detail::require(n == 0 || (k.data != nullptr && v.data != nullptr), "k and v must not be null");
  detail::require_host_accessible(k.space, "k");
  detail::require_host_accessible(v.space, "v");
  return n;
}

/// Checks q `[n, q_heads, head_dim]`, k, v and out `[n, q_heads, head_dim]` of one step on a CPU
/// cache; returns n.
inline std::size_t check_step(const layer_shape& shape, const dyn_view3& q, const dyn_view3& k,
                              const dyn_view3& v, const tensor_view<float, 3>& out) {
  const std::size_t n = check_kv(shape, k, v);
  const std::array<std::size_t, 3> q_shape{n, std::size_t(shape.q_heads), std::size_t(shape.head_dim)};
  detail::check_shape(q, q_shape, "q", "[n, q_heads, head_dim]");
  detail::check_shape(out, q_shape, "out", "[n, q_heads, head_dim]");
  detail::require(q.strides[2] == 1 && out.stride(2) == 1, "q and out rows (head_dim) must be contiguous");
  detail::require_host_accessible(q.space, "q");
  detail::require_host_accessible(out.space(), "out");
  return n;
}

/// Checks a query-shaped hint `[1, q_heads, head_dim]` (prefetch_hint's predicted query).
inline void check_query_hint(const layer_shape& shape, const dyn_view3& predicted_q) {
  detail::check_shape(predicted_q, {1, std::size_t(shape.q_heads), std::size_t(shape.head_dim)}, "predicted_q",
                      "[1, q_heads, head_dim]");
  detail::require(predicted_q.strides[2] == 1, "predicted_q rows (head_dim) must be contiguous");
  detail::require_host_accessible(predicted_q.space, "predicted_q");
}

}  // namespace kvc
