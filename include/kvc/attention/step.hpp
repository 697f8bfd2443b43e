// The shared skeleton of one append-and-attend step: shape checks, scaled queries, the exact
// attention among the new tokens, and the output; policies supply attention to what they store.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "kvc/attention/dense.hpp"
#include "kvc/attention/kv_segment.hpp"
#include "kvc/attention/softmax_state.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/detail/convert_row.hpp"

namespace kvc::detail {

/// Checks k, v `[n, kv_heads, head_dim]` against the layer shape (same dtype, contiguous rows).
inline std::size_t check_kv(const layer_shape& shape, const dyn_view3& k, const dyn_view3& v) {
  const std::size_t n = k.extent(0);
  const std::array<std::size_t, 3> kv_shape{n, std::size_t(shape.kv_heads), std::size_t(shape.head_dim)};
  check_shape(k, kv_shape, "k", "[n, kv_heads, head_dim]");
  check_shape(v, kv_shape, "v", "[n, kv_heads, head_dim]");
  require(k.type == v.type, "k and v must have the same dtype, got ", dtype_name(k.type), " and ",
          dtype_name(v.type));
  require(k.strides[2] == 1 && v.strides[2] == 1, "k and v rows (head_dim) must be contiguous");
  require(n == 0 || (k.data != nullptr && v.data != nullptr), "k and v must not be null");
  return n;
}

/// Checks q `[n, q_heads, head_dim]`, k, v and out of one step; returns n.
inline std::size_t check_step(const layer_shape& shape, const dyn_view3& q, const dyn_view3& k,
                              const dyn_view3& v, const tensor_view<float, 3>& out) {
  const std::size_t n = check_kv(shape, k, v);
  const std::array<std::size_t, 3> q_shape{n, std::size_t(shape.q_heads), std::size_t(shape.head_dim)};
  check_shape(q, q_shape, "q", "[n, q_heads, head_dim]");
  check_shape(out, q_shape, "out", "[n, q_heads, head_dim]");
  require(q.strides[2] == 1 && out.stride(2) == 1, "q and out rows (head_dim) must be contiguous");
  return n;
}

/// qs `[n, q_heads, head_dim]` = q * softmax scale, as f32.
inline void scaled_queries(const layer_shape& shape, const dyn_view3& q, std::vector<float>& qs) {
  const std::size_t n = q.extent(0), hq = std::size_t(shape.q_heads), dim = std::size_t(shape.head_dim);
  qs.resize(n * hq * dim);
  const float scale = shape.softmax_scale();
  visit_dtype(q.type, [&](auto tag) {
    using T = decltype(tag);
    const auto qt = q.as<T>();
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t h = 0; h < hq; ++h) {
        float* dst = &qs[(i * hq + h) * dim];
        to_f32_row(qt.row(i, h), dst, dim);
        for (std::size_t d = 0; d < dim; ++d) dst[d] *= scale;
      }
  });
}

/// The segment view of activations k, v `[n, kv_heads, head_dim]` placed at position `start`.
template <class T>
kv_segment<T> segment_of(const dyn_view3& k, const dyn_view3& v, std::size_t start) {
  return {{static_cast<const T*>(k.data), k.strides[0], k.strides[1]},
          {static_cast<const T*>(v.data), v.strides[0], v.strides[1]},
          start,
          k.extent(0)};
}

/// Exact causal attention of the n new queries over the n new keys (query i sees new keys 0..i).
inline void attend_new_tokens(const layer_shape& shape, const float* qs, const dyn_view3& k,
                              const dyn_view3& v, softmax_state& state) {
  const std::size_t n = k.extent(0);
  if (n == 0) return;
  visit_dtype(k.type, [&](auto tag) {
    using T = decltype(tag);
    const kv_segment<T> seg = segment_of<T>(k, v, 0);
    attend_dense<T>(qs, n, shape, std::span<const kv_segment<T>>(&seg, 1), 0, state);
  });
}

/// out `[n, q_heads, head_dim]` = normalised state rows.
inline void write_output(const layer_shape& shape, const softmax_state& state,
                         const tensor_view<float, 3>& out) {
  const std::size_t hq = std::size_t(shape.q_heads);
  for (std::size_t r = 0; r < state.rows; ++r) state.write(r, out.row(r / hq, r % hq));
}

/// Runs one append-and-attend step: `attend_stored(qs, n, state)` merges attention over what the
/// policy holds into `state`; then the new tokens are attended exactly and `out` is written.
/// The caller stores k, v afterwards. Returns n.
template <class AttendStored>
std::size_t attention_step(const layer_shape& shape, const dyn_view3& q, const dyn_view3& k,
                           const dyn_view3& v, const tensor_view<float, 3>& out,
                           AttendStored&& attend_stored) {
  const std::size_t n = check_step(shape, q, k, v, out);
  if (n == 0) return 0;
  thread_local std::vector<float> qs;
  thread_local softmax_state state;
  scaled_queries(shape, q, qs);
  state.reset(n * std::size_t(shape.q_heads), std::size_t(shape.head_dim));
  attend_stored(static_cast<const float*>(qs.data()), n, state);
  attend_new_tokens(shape, qs.data(), k, v, state);
  write_output(shape, state, out);
  return n;
}

}  // namespace kvc::detail
