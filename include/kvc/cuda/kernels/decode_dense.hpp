// Flash-decoding split-K attention of one query token over dense K/V rows (bf16/f16/f32): one CTA
// per (chunk of tokens, KV head) serving the head's GQA group, fp32 partials for merge_partials.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kvc/config.hpp"
#include "kvc/core/dtype.hpp"
#include "kvc/core/error.hpp"
#include "kvc/cuda/kernels/decode_state.hpp"
#include "kvc/cuda/kernels/partials.hpp"
#include "kvc/cuda/kernels/phase_kernel.hpp"

namespace kvc::cuda::kernels {

/// One decode step's attention over `tokens` stored rows of K and V.
template <class T>
struct decode_dense_params {
  const float* q = nullptr;             // [q_heads, head_dim] the step's query (f32)
  const T* k = nullptr;                 // row r, KV head h at k[r * row_stride + h * head_dim]
  const T* v = nullptr;                 // same layout as k
  const std::uint32_t* rows = nullptr;  // [tokens] the row of each attended token; nullptr: token t is row t
  std::size_t row_stride = 0;           // elements from one row to the next (kv_heads * head_dim when packed)
  std::size_t tokens = 0;
  std::size_t chunk_tokens = 1;         // tokens per CTA: the split (chunks = ceil(tokens / chunk_tokens), at least 1)
  int q_heads = 0, kv_heads = 0, head_dim = 0;
  float scale = 0;                      // softmax scale
  partials out;                         // slots first_slot .. first_slot + chunks - 1 of each query head
  int first_slot = 0;

  int group() const { return q_heads / kv_heads; }
  std::size_t chunks() const { return tokens == 0 ? 1 : (tokens + chunk_tokens - 1) / chunk_tokens; }

  /// Throws kvc::error naming the first field out of the kernel's range.
  void validate() const {
    detail::require(q && k && v && out.m && out.l && out.acc, "decode_dense: a null pointer among q, k, v, out");
    detail::require(kv_heads > 0 && q_heads % kv_heads == 0, "decode_dense: q_heads (", q_heads,
                    ") must be a positive multiple of kv_heads (", kv_heads, ")");
    detail::require(group() <= max_group, "decode_dense: GQA group ", group(), " exceeds ", max_group);
    detail::require(head_dim > 0 && head_dim <= max_head_dim, "decode_dense: head_dim ", head_dim,
                    " outside [1, ", max_head_dim, "]");
    detail::require(out.head_dim == head_dim, "decode_dense: partials of head_dim ", out.head_dim, ", not ", head_dim);
    detail::require(chunk_tokens > 0, "decode_dense: chunk_tokens must be positive");
    detail::require(first_slot >= 0 && first_slot + int(chunks()) <= out.slots, "decode_dense: slots ", first_slot,
                    " .. ", first_slot + int(chunks()), " outside the workspace's ", out.slots);
    detail::require(row_stride >= std::size_t(kv_heads) * std::size_t(head_dim), "decode_dense: row_stride ",
                    row_stride, " is shorter than kv_heads * head_dim");
  }
};

/// The kernel: grid (chunks, kv_heads), block_threads threads. Phases: set up, then per tile of
/// tile_tokens tokens {score, raise max, exponentiate, accumulate V}, then store the partial.
/// Thread t scores token t of the tile against every query head of the group; in the V phase
/// thread i owns (query head, channel) pairs i, i + block_threads, ... so V rows are read along
/// consecutive channels.
template <class T>
struct decode_dense {
  using params = decode_dense_params<T>;
  static constexpr int threads = block_threads;
  using shared = decode_state;
  struct regs {};

  static grid_shape grid(const params& p) { return {unsigned(p.chunks()), unsigned(p.kv_heads), 1}; }
  KVC_HOST_DEVICE static int tiles(const params& p) { return int((p.chunk_tokens + tile_tokens - 1) / tile_tokens); }
  KVC_HOST_DEVICE static int phases(const params& p) { return 2 + 4 * tiles(p); }

  KVC_HOST_DEVICE static void phase(int ph, const params& p, block_index b, int tid, shared& s, regs&) {
    const int group = p.q_heads / p.kv_heads, dim = p.head_dim, h = int(b.y);
    const std::size_t begin = std::size_t(b.x) * p.chunk_tokens;
    const std::size_t end = begin + p.chunk_tokens < p.tokens ? begin + p.chunk_tokens : p.tokens;
    if (ph == 0) {  // the group's queries, scaled; empty state
      for (int i = tid; i < group * dim; i += threads)
        s.q[i / dim][i % dim] = p.q[std::size_t(h * group + i / dim) * std::size_t(dim) + std::size_t(i % dim)] * p.scale;
      online_softmax::start(s, tid, group, dim);
      return;
    }
    const int last = 1 + 4 * tiles(p);
    if (ph == last) {
      online_softmax::store(s, p.out, tid, group, dim, h * group, p.first_slot + int(b.x));
      return;
    }
    const int step = (ph - 1) % 4;
    const std::size_t t0 = begin + std::size_t((ph - 1) / 4) * tile_tokens;
    const int n = t0 >= end ? 0 : (end - t0 < std::size_t(tile_tokens) ? int(end - t0) : tile_tokens);
    auto row = [&](std::size_t t) { return (p.rows ? std::size_t(p.rows[t]) : t) * p.row_stride + std::size_t(h * dim); };
    switch (step) {
      case 0:  // scores of token tid against the group's queries
        if (tid < n) {
          const T* kr = p.k + row(t0 + std::size_t(tid));
          float dot[max_group] = {};
          for (int d = 0; d < dim; ++d) {
            const float x = to_float(kr[d]);
            for (int g = 0; g < group; ++g) dot[g] = fmaf(s.q[g][d], x, dot[g]);
          }
          for (int g = 0; g < group; ++g) s.score[g][tid] = dot[g];
        }
        break;
      case 1: online_softmax::raise_max(s, tid, group, n); break;
      case 2: online_softmax::exponentiate(s, tid, group, n); break;
      case 3:  // acc <- acc * corr + Σ_t p_t v_t, and l
        online_softmax::add_sum(s, tid, group, n);
        for (int i = tid; i < group * dim; i += threads) {
          const int g = i / dim, d = i % dim;
          float a = s.acc[g][d] * s.corr[g];
          for (int t = 0; t < n; ++t) a = fmaf(s.score[g][t], to_float(p.v[row(t0 + std::size_t(t)) + std::size_t(d)]), a);
          s.acc[g][d] = a;
        }
        break;
    }
  }
};

}  // namespace kvc::cuda::kernels
