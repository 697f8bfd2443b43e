// Dense GQA attention on the CPU: online-softmax kernel over key segments, threaded driver.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

#include <omp.h>

#include "kvc/attention/dense_simd.hpp"
#include "kvc/core/kv_segment.hpp"
#include "kvc/attention/softmax_state.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/detail/convert_row.hpp"
#include "kvc/detail/softmax_block.hpp"

namespace kvc {

/// "Every key is visible": the causal base for stored tokens, all earlier than the queries.
inline constexpr std::size_t all_visible = std::numeric_limits<std::size_t>::max();

namespace detail {

inline constexpr std::size_t dense_block = 64;  // keys scored per softmax block

inline float dot_f32(const float* a, const float* b, std::size_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void axpy_f32(float alpha, const float* x, float* y, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

/// Scratch for one kernel call: converted rows, a block of scores, slot-ordered q and acc.
struct dense_scratch {
  std::vector<float> row;     // [head_dim]
  std::vector<float> scores;  // [group, dense_block]
  std::vector<float> q, acc;  // [group, head_dim] in simd slot order
  void fit(std::size_t group, std::size_t dim) {
    if (row.size() < dim) row.resize(dim);
    if (scores.size() < group * dense_block) scores.resize(group * dense_block);
    if (q.size() < group * dim) q.resize(group * dim), acc.resize(group * dim);
  }
};

/// Scores of a block: s[g * dense_block + t] = q_g · k_t (the plain reference of the SIMD path).
template <class T>
void block_scores_ref(const float* q, std::size_t group, std::size_t dim, const T* k,
                      std::ptrdiff_t k_stride, std::size_t nb, float* s, float* row) {
  for (std::size_t t = 0; t < nb; ++t) {
    to_f32_row(k + std::ptrdiff_t(t) * k_stride, row, dim);
    for (std::size_t g = 0; g < group; ++g) s[g * dense_block + t] = dot_f32(q + g * dim, row, dim);
  }
}

/// acc[g] += Σ_t p[g * dense_block + t] · v_t over a block (the plain reference of the SIMD path).
template <class T>
void block_accumulate_ref(const float* p, std::size_t group, std::size_t dim, const T* v,
                          std::ptrdiff_t v_stride, std::size_t nb, float* acc, float* row) {
  for (std::size_t t = 0; t < nb; ++t) {
    to_f32_row(v + std::ptrdiff_t(t) * v_stride, row, dim);
    for (std::size_t g = 0; g < group; ++g) axpy_f32(p[g * dense_block + t], row, acc + g * dim, dim);
  }
}

/// Online-softmax update of `group` query rows against `tokens` keys/values of one KV head.
/// q [group, dim] (already multiplied by the softmax scale); k, v: rows of one head, token t at
/// k + t * k_stride. m, l [group] and acc [group, dim] are updated in place. Rows whose width
/// is a multiple of simd::pair take the SIMD path, others the plain reference loops.
/// `following`: the key rows the caller reads next (its next segment), prefetched during the
/// last block's value pass as every block prefetches the next block's keys.
template <class T>
void attend_rows(const float* q, std::size_t group, std::size_t dim, const T* k,
                 std::ptrdiff_t k_stride, const T* v, std::ptrdiff_t v_stride, std::size_t tokens,
                 float* m, float* l, float* acc, dense_scratch& scratch, simd::row_run<T> following = {}) {
  scratch.fit(group, dim);
  float* row = scratch.row.data();
  float* s = scratch.scores.data();
  const bool fast = dim % simd::pair == 0;
  // the SIMD path reads q and acc in the lane order its loads give the stored rows
  constexpr bool reorder = simd::slot<T>(1) != 1;
  const float* qk = q;
  float* a = acc;
  if (fast && reorder) {
    for (std::size_t g = 0; g < group; ++g) {
      simd::to_slots<T>(q + g * dim, scratch.q.data() + g * dim, dim);
      simd::to_slots<T>(acc + g * dim, scratch.acc.data() + g * dim, dim);
    }
    qk = scratch.q.data();
    a = scratch.acc.data();
  }
  for (std::size_t t0 = 0; t0 < tokens; t0 += dense_block) {
    const std::size_t nb = std::min(dense_block, tokens - t0);
    const T* kb = k + std::ptrdiff_t(t0) * k_stride;
    const T* vb = v + std::ptrdiff_t(t0) * v_stride;
    // Memory stays busy through every phase: the score loop asks for this block's values, the
    // value pass for the next block's keys. Only the first block's keys are asked for ahead in
    // its own score loop.
    simd::row_run<T> next_keys = following;
    if (t0 + nb < tokens) next_keys = {kb + std::ptrdiff_t(nb) * k_stride, k_stride, tokens - t0 - nb};
    next_keys.count = std::min(next_keys.count, dense_block);
    if (fast) simd::dense_scores(qk, group, dim, kb, k_stride, nb, s, dense_block, {{vb, v_stride, nb}, t0 == 0 ? nb : 0});
    else block_scores_ref(qk, group, dim, kb, k_stride, nb, s, row);
    for (std::size_t g = 0; g < group; ++g) softmax_block(s + g * dense_block, nb, m[g], l[g], a + g * dim, dim);
    if (fast) simd::dense_accumulate(s, dense_block, group, dim, vb, v_stride, nb, a, next_keys);
    else block_accumulate_ref(s, group, dim, vb, v_stride, nb, a, row);
  }
  if (fast && reorder)
    for (std::size_t g = 0; g < group; ++g) simd::from_slots<T>(a + g * dim, acc + g * dim, dim);
}

/// Keys of `seg` visible to a query whose causal limit is `limit` (positions < limit).
template <class T>
std::size_t visible_tokens(const kv_segment<T>& seg, std::size_t limit) {
  if (limit <= seg.start) return 0;
  return std::min(seg.tokens, limit - seg.start);
}

/// The visible key rows of head h in `seg`, as a prefetch run.
template <class T>
simd::row_run<T> key_run(const kv_segment<T>& seg, std::size_t h, std::size_t limit) {
  return {seg.k.row(0, h), seg.k.token_stride, visible_tokens(seg, limit)};
}

}  // namespace detail

/// Dense attention of n queries over key/value segments of one layer, merged into `state`.
///
/// qs `[n, q_heads, head_dim]` f32, already multiplied by the softmax scale; state rows are
/// (query token, query head) pairs, row = i * q_heads + h. Query i sees positions
/// < causal_base + i + 1 (pass `all_visible` for keys that all precede the queries).
/// Query head h reads KV head h / group. Threads: OpenMP, over (KV head, token chunk) for a
/// single query (decode), over (query, KV head) otherwise.
template <class T>
void attend_dense(const float* qs, std::size_t n, const layer_shape& shape,
                  std::span<const kv_segment<T>> segments, std::size_t causal_base,
                  softmax_state& state) {
  const std::size_t group = std::size_t(shape.group());
  const std::size_t dim = std::size_t(shape.head_dim);
  const std::size_t kv_heads = std::size_t(shape.kv_heads);
  const std::size_t q_heads = std::size_t(shape.q_heads);
  auto limit_of = [&](std::size_t i) {
    return causal_base == all_visible ? all_visible : causal_base + i + 1;
  };

  if (n == 1) {
    // Decode: split each KV head's segments into chunks of about `chunk_tokens` tokens, about
    // 32 items per thread so that a thread slowed by a neighbour leaves little to wait for at
    // the end (with 2 per thread a 32k decode lost ~5 % to that), but no chunk under 1024 tokens.
    std::size_t total = 0;
    for (const auto& s : segments) total += s.tokens;
    const std::size_t threads = std::size_t(omp_get_max_threads());
    const std::size_t chunks_per_head = std::max<std::size_t>(1, (32 * threads + kv_heads - 1) / kv_heads);
    const std::size_t chunk_tokens = std::max<std::size_t>(1024, total / chunks_per_head + 1);
    struct piece { std::size_t first, last; };  // segment range [first, last)
    std::vector<piece> pieces;
    for (std::size_t i = 0; i < segments.size();) {
      std::size_t j = i, acc_tokens = 0;
      while (j < segments.size() && (acc_tokens == 0 || acc_tokens + segments[j].tokens <= chunk_tokens))
        acc_tokens += segments[j++].tokens;
      pieces.push_back({i, j});
      i = j;
    }
    const std::size_t items = pieces.size() * kv_heads;
    std::vector<float> pm(items * group, -std::numeric_limits<float>::infinity());
    std::vector<float> pl(items * group, 0.0f);
    std::vector<float> pacc(items * group * dim, 0.0f);
    const std::size_t limit = limit_of(0);
#pragma omp parallel
    {
      detail::dense_scratch scratch;
#pragma omp for schedule(dynamic, 1)
      for (std::size_t it = 0; it < items; ++it) {
        const std::size_t h = it % kv_heads;
        const piece p = pieces[it / kv_heads];
        for (std::size_t si = p.first; si < p.last; ++si) {
          const auto& seg = segments[si];
          const std::size_t nt = detail::visible_tokens(seg, limit);
          if (nt == 0) continue;
          detail::attend_rows(qs + h * group * dim, group, dim, seg.k.row(0, h), seg.k.token_stride,
                              seg.v.row(0, h), seg.v.token_stride, nt, &pm[it * group],
                              &pl[it * group], &pacc[it * group * dim], scratch,
                              si + 1 < p.last ? detail::key_run(segments[si + 1], h, limit)
                                              : detail::simd::row_run<T>{});
        }
      }
    }
    for (std::size_t it = 0; it < items; ++it) {
      const std::size_t h = it % kv_heads;
      for (std::size_t g = 0; g < group; ++g)
        state.merge(h * group + g, pm[it * group + g], pl[it * group + g], &pacc[(it * group + g) * dim]);
    }
    return;
  }

#pragma omp parallel
  {
    detail::dense_scratch scratch;
    std::vector<float> m(group), l(group), acc(group * dim);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t it = 0; it < n * kv_heads; ++it) {
      const std::size_t i = it / kv_heads, h = it % kv_heads;
      std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
      std::fill(l.begin(), l.end(), 0.0f);
      std::fill(acc.begin(), acc.end(), 0.0f);
      const std::size_t limit = limit_of(i);
      for (std::size_t si = 0; si < segments.size(); ++si) {
        const auto& seg = segments[si];
        const std::size_t nt = detail::visible_tokens(seg, limit);
        if (nt == 0) continue;
        detail::attend_rows(qs + (i * q_heads + h * group) * dim, group, dim, seg.k.row(0, h),
                            seg.k.token_stride, seg.v.row(0, h), seg.v.token_stride, nt, m.data(),
                            l.data(), acc.data(), scratch,
                            si + 1 < segments.size() ? detail::key_run(segments[si + 1], h, limit)
                                                     : detail::simd::row_run<T>{});
      }
      for (std::size_t g = 0; g < group; ++g)
        state.merge(i * q_heads + h * group + g, m[g], l[g], &acc[g * dim]);
    }
  }
}

}  // namespace kvc
