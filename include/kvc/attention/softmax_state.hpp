// Online-softmax state of a set of query rows, with the merge rule for split attention.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace kvc {

/// Running state of `rows` query rows of width `dim`: max score m, sum l = Σ exp(s - m), and
/// the unnormalised output acc = Σ exp(s - m) v. Partials over disjoint key sets merge exactly,
/// so every policy attends its own segments and the results combine (FlashAttention, split-K).
struct softmax_state {
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::vector<float> m;    // [rows]
  std::vector<float> l;    // [rows]
  std::vector<float> acc;  // [rows, dim]

  /// Empty state: no keys seen (m = -inf, l = 0, acc = 0).
  void reset(std::size_t n_rows, std::size_t width) {
    rows = n_rows;
    dim = width;
    m.assign(rows, -std::numeric_limits<float>::infinity());
    l.assign(rows, 0.0f);
    acc.assign(rows * dim, 0.0f);
  }
  float* acc_row(std::size_t r) { return acc.data() + r * dim; }
  const float* acc_row(std::size_t r) const { return acc.data() + r * dim; }

  /// Merges a partial (m2, l2, acc2 [dim]) over other keys into row r.
  void merge(std::size_t r, float m2, float l2, const float* acc2) {
    if (l2 == 0.0f) return;
    float* a = acc_row(r);
    if (l[r] == 0.0f) {
      m[r] = m2;
      l[r] = l2;
      for (std::size_t d = 0; d < dim; ++d) a[d] = acc2[d];
      return;
    }
    const float mn = std::max(m[r], m2);
    const float c1 = std::exp(m[r] - mn);
    const float c2 = std::exp(m2 - mn);
    for (std::size_t d = 0; d < dim; ++d) a[d] = a[d] * c1 + acc2[d] * c2;
    l[r] = l[r] * c1 + l2 * c2;
    m[r] = mn;
  }

  /// out [dim] = acc / l for row r (zero if the row saw no keys).
  void write(std::size_t r, float* out) const {
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
    const float* a = acc_row(r);
    for (std::size_t d = 0; d < dim; ++d) out[d] = a[d] * inv;
  }
};

}  // namespace kvc
