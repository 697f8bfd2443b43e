// The block-shared online softmax of a decode CTA: one tile of scores at a time, folded into (m, l, acc) per query head.
#pragma once

#include <cmath>
#include <cstddef>

#include "kvc/config.hpp"
#include "kvc/cuda/kernels/partials.hpp"
#include "kvc/cuda/kernels/phase_kernel.hpp"

namespace kvc::cuda::kernels {

/// Query heads per KV head a decode CTA serves (GQA group), most.
inline constexpr int max_group = 8;
/// head_dim, most.
inline constexpr int max_head_dim = 256;
/// Tokens scored per tile (one per thread).
inline constexpr int tile_tokens = block_threads;

/// What a decode CTA keeps in shared memory: the group's queries, one tile's scores (then their
/// exponentials) and the running state of each query head.
struct decode_state {
  float q[max_group][max_head_dim];        // the query as the scores use it
  float score[max_group][tile_tokens];     // [group, tile]: scores, then exp(score - m)
  float m[max_group], l[max_group];        // running max and sum
  float corr[max_group];                   // exp(m_old - m_new) of the current tile
  float acc[max_group][max_head_dim];      // [group, head_dim] running Σ exp(s - m) v
};

/// Phase work of the online softmax, per thread `tid` of a block of block_threads.
struct online_softmax {
  /// No keys seen: m = -inf, l = 0, acc = 0.
  KVC_HOST_DEVICE static void start(decode_state& s, int tid, int group, int dim) {
    if (tid < group) s.m[tid] = -INFINITY, s.l[tid] = 0.0f, s.corr[tid] = 1.0f;
    for (int i = tid; i < group * dim; i += block_threads) s.acc[i / dim][i % dim] = 0.0f;
  }
  /// Thread h < group: the tile's max over its first n scores raises m; corr rescales the old state.
  KVC_HOST_DEVICE static void raise_max(decode_state& s, int tid, int group, int n) {
    if (tid >= group) return;
    float mt = -INFINITY;
    for (int t = 0; t < n; ++t) mt = fmaxf(mt, s.score[tid][t]);
    const float m_new = fmaxf(s.m[tid], mt);
    // No finite score yet: keep everything (an exp(-inf - -inf) would be NaN).
    s.corr[tid] = m_new == -INFINITY ? 1.0f : expf(s.m[tid] - m_new);
    s.m[tid] = m_new;
  }
  /// score <- exp(score - m) for the first n tokens of the tile, 0 past them.
  KVC_HOST_DEVICE static void exponentiate(decode_state& s, int tid, int group, int n) {
    for (int i = tid; i < group * tile_tokens; i += block_threads) {
      const int h = i / tile_tokens, t = i % tile_tokens;
      const float m = s.m[h];
      s.score[h][t] = t < n && m != -INFINITY ? expf(s.score[h][t] - m) : 0.0f;
    }
  }
  /// Thread h < group: l <- l * corr + Σ exp(score - m) (reads the tile, writes l only).
  KVC_HOST_DEVICE static void add_sum(decode_state& s, int tid, int group, int n) {
    if (tid >= group) return;
    float sum = 0.0f;
    for (int t = 0; t < n; ++t) sum += s.score[tid][t];
    s.l[tid] = fmaf(s.l[tid], s.corr[tid], sum);
  }
  /// The CTA's state into partial slot `slot` of query heads first_head .. first_head + group - 1.
  KVC_HOST_DEVICE static void store(const decode_state& s, const partials& out, int tid, int group, int dim,
                                    int first_head, int slot) {
    if (tid < group) {
      out.m[out.at(first_head + tid, slot)] = s.m[tid];
      out.l[out.at(first_head + tid, slot)] = s.l[tid];
    }
    for (int i = tid; i < group * dim; i += block_threads) out.acc_of(first_head + i / dim, slot)[i % dim] = s.acc[i / dim][i % dim];
  }
};

}  // namespace kvc::cuda::kernels
