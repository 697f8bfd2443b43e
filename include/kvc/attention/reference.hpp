// The f64 scalar oracle for causal GQA attention: slow, obvious, and the judge of every fast path.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "kvc/core/layer_shape.hpp"
#include "kvc/core/tensor_view.hpp"

namespace kvc {

namespace detail {
inline double element(const dyn_view3& v, std::size_t i, std::size_t j, std::size_t d) {
  const std::ptrdiff_t off = std::ptrdiff_t(i) * v.strides[0] + std::ptrdiff_t(j) * v.strides[1] +
                             std::ptrdiff_t(d) * v.strides[2];
  return visit_dtype(v.type, [&](auto tag) -> double {
    using T = decltype(tag);
    return double(to_float(static_cast<const T*>(v.data)[off]));
  });
}
}  // namespace detail

/// Causal attention computed in double precision with a two-pass softmax.
///
/// q `[n, q_heads, head_dim]` are the queries of positions past .. past+n-1; k, v
/// `[past + n, kv_heads, head_dim]` hold every key and value up to the last query. Query i
/// attends to keys 0 .. past+i. Returns out `[n, q_heads, head_dim]` row-major.
inline std::vector<double> attention_reference(const dyn_view3& q, const dyn_view3& k,
                                               const dyn_view3& v, const layer_shape& shape,
                                               std::size_t past) {
  const std::size_t n = q.extent(0), hq = std::size_t(shape.q_heads), dim = std::size_t(shape.head_dim);
  const std::size_t group = std::size_t(shape.group());
  const double scale = shape.scale > 0 ? double(shape.scale) : 1.0 / std::sqrt(double(dim));
  std::vector<double> out(n * hq * dim, 0.0);
  std::vector<double> s;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t keys = past + i + 1;
    s.assign(keys, 0.0);
    for (std::size_t h = 0; h < hq; ++h) {
      const std::size_t kh = h / group;
      double mx = -INFINITY;
      for (std::size_t t = 0; t < keys; ++t) {
        double dot = 0;
        for (std::size_t d = 0; d < dim; ++d) dot += detail::element(q, i, h, d) * detail::element(k, t, kh, d);
        s[t] = dot * scale;
        mx = std::max(mx, s[t]);
      }
      double sum = 0;
      for (std::size_t t = 0; t < keys; ++t) sum += (s[t] = std::exp(s[t] - mx));
      double* o = &out[(i * hq + h) * dim];
      for (std::size_t t = 0; t < keys; ++t)
        for (std::size_t d = 0; d < dim; ++d) o[d] += s[t] / sum * detail::element(v, t, kh, d);
    }
  }
  return out;
}

}  // namespace kvc
