// The split-K combine: every partial slot of a query head merged NaN-safely (kvc::softmax_merge's rule) and normalised.
#pragma once

#include <cmath>
#include <cstddef>

#include "kvc/attention/softmax_merge.hpp"
#include "kvc/config.hpp"
#include "kvc/core/error.hpp"
#include "kvc/cuda/kernels/partials.hpp"
#include "kvc/cuda/kernels/phase_kernel.hpp"

namespace kvc::cuda::kernels {

struct merge_partials_params {
  partials in;           // slots 0 .. in.slots - 1 of every query head
  float* out = nullptr;  // [q_heads, head_dim] the attention output
  int q_heads = 0;

  void validate() const {
    detail::require(in.m && in.l && in.acc && out, "merge_partials: a null pointer among the partials and out");
    detail::require(q_heads > 0 && in.slots > 0 && in.head_dim > 0, "merge_partials: q_heads (", q_heads, "), slots (",
                    in.slots, ") and head_dim (", in.head_dim, ") must be positive");
  }
};

/// The kernel: grid (q_heads), one phase. Thread i owns channels i, i + block_threads, ... of
/// its head and walks the slots in order; every thread takes the same (m, l) steps, so the
/// result does not depend on the thread count. A slot that saw no keys (l = 0) changes nothing;
/// a head whose slots all saw none writes zeros.
struct merge_partials {
  using params = merge_partials_params;
  static constexpr int threads = block_threads;
  struct shared {};
  struct regs {};

  static grid_shape grid(const params& p) { return {unsigned(p.q_heads), 1, 1}; }
  KVC_HOST_DEVICE static int phases(const params&) { return 1; }

  KVC_HOST_DEVICE static void phase(int, const params& p, block_index b, int tid, shared&, regs&) {
    const int h = int(b.x), dim = p.in.head_dim;
    for (int d = tid; d < dim; d += threads) {
      float m = -INFINITY, l = 0.0f, acc = 0.0f;
      for (int j = 0; j < p.in.slots; ++j)
        softmax_merge(m, l, &acc, p.in.m[p.in.at(h, j)], p.in.l[p.in.at(h, j)], p.in.acc_of(h, j) + d, 1);
      softmax_normalize(l, &acc, p.out + std::size_t(h) * std::size_t(dim) + std::size_t(d), 1);
    }
  }
};

}  // namespace kvc::cuda::kernels
