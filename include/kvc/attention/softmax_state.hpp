// Online-softmax state of a set of query rows on the host, merged with kvc::softmax_merge.
#pragma once

#include <cstddef>
#include <limits>
#include <vector>

#include "kvc/attention/softmax_merge.hpp"

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

  /// Merges a partial (m2, l2, acc2 [dim]) over other keys into row r (kvc::softmax_merge).
  void merge(std::size_t r, float m2, float l2, const float* acc2) { softmax_merge(m[r], l[r], acc_row(r), m2, l2, acc2, dim); }

  /// out [dim] = acc / l for row r (zero if the row saw no keys).
  void write(std::size_t r, float* out) const { softmax_normalize(l[r], acc_row(r), out, dim); }
};

}  // namespace kvc
