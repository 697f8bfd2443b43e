// The f64 scalar oracle for causal GQA attention: slow, obvious, and the judge of every fast path.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "kvc/core/layer_shape.hpp"
#include "kvc/core/tensor_view.hpp"

namespace kvc {

namespace detail {
template <class Q, class K, class V>
void attention_reference_typed(const tensor_view<const Q, 3>& q, const tensor_view<const K, 3>& k,
                               const tensor_view<const V, 3>& v, const layer_shape& shape,
                               std::size_t past, std::vector<double>& out) {
  const std::size_t n = q.extent(0), hq = std::size_t(shape.q_heads), dim = std::size_t(shape.head_dim);
  const std::size_t group = std::size_t(shape.group());
  const double scale = shape.scale > 0 ? double(shape.scale) : 1.0 / std::sqrt(double(dim));
  std::vector<double> s, qd(dim);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t keys = past + i + 1;
    s.assign(keys, 0.0);
    for (std::size_t h = 0; h < hq; ++h) {
      const std::size_t kh = h / group;
      for (std::size_t d = 0; d < dim; ++d) qd[d] = double(to_float(q.row(i, h)[d]));
      double mx = -INFINITY;
      for (std::size_t t = 0; t < keys; ++t) {
        const K* kr = k.row(t, kh);
        double dot = 0;
        for (std::size_t d = 0; d < dim; ++d) dot += qd[d] * double(to_float(kr[d]));
        s[t] = dot * scale;
        mx = std::max(mx, s[t]);
      }
      double sum = 0;
      for (std::size_t t = 0; t < keys; ++t) sum += (s[t] = std::exp(s[t] - mx));
      double* o = &out[(i * hq + h) * dim];
      for (std::size_t t = 0; t < keys; ++t) {
        const V* vr = v.row(t, kh);
        const double p = s[t] / sum;
        for (std::size_t d = 0; d < dim; ++d) o[d] += p * double(to_float(vr[d]));
      }
    }
  }
}
}  // namespace detail

/// Causal attention computed in double precision with a two-pass softmax.
///
/// q `[n, q_heads, head_dim]` are the queries of positions past .. past+n-1; k, v
/// `[past + n, kv_heads, head_dim]` hold every key and value up to the last query (any of
/// f32/bf16/f16). Query i attends to keys 0 .. past+i. Returns out `[n, q_heads, head_dim]`.
inline std::vector<double> attention_reference(const dyn_view3& q, const dyn_view3& k,
                                               const dyn_view3& v, const layer_shape& shape,
                                               std::size_t past) {
  std::vector<double> out(q.extent(0) * std::size_t(shape.q_heads) * std::size_t(shape.head_dim), 0.0);
  visit_dtype(q.type, [&](auto qt) {
    visit_dtype(k.type, [&](auto kt) {
      visit_dtype(v.type, [&](auto vt) {
        detail::attention_reference_typed(q.as<decltype(qt)>(), k.as<decltype(kt)>(),
                                          v.as<decltype(vt)>(), shape, past, out);
      });
    });
  });
  return out;
}

}  // namespace kvc
