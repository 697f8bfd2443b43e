// Decode attention of a batch of sequences in one parallel pass: every sequence's exact segments
// and packed blocks split into (sequence, KV head, chunk) items, partials merged per sequence.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include <omp.h>

#include "kvc/attention/dense.hpp"
#include "kvc/attention/quantized.hpp"
#include "kvc/attention/softmax_state.hpp"
#include "kvc/core/kv_segment.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/quant/block_span.hpp"

namespace kvc {

/// One sequence of a decode batch: its single query, what it attends, and where the result goes.
template <class T>
struct decode_job {
  const float* qs = nullptr;          // [q_heads, head_dim], multiplied by the softmax scale
  const float* qs_blocks = nullptr;   // the same, rotated as the blocks' keys were (or == qs)
  std::span<const kv_segment<T>> segments;  // exact rows, all visible
  quant::block_span blocks{};               // packed blocks (count 0: none)
  softmax_state* state = nullptr;           // q_heads rows, merged into
};

/// Attends every job's segments and blocks in one OpenMP pass. Work is cut into items of about
/// the same number of tokens across the whole batch (about 32 per thread, none under 1024
/// tokens, as the single-sequence decode does), so a batch of short and long sequences keeps
/// every thread busy; partials merge into each job's state with softmax_merge afterwards.
template <class T>
void attend_decode_batch(const layer_shape& shape, std::span<const decode_job<T>> jobs) {
  const std::size_t group = std::size_t(shape.group()), dim = std::size_t(shape.head_dim);
  const std::size_t kv_heads = std::size_t(shape.kv_heads);
  constexpr std::size_t quant_rows = 4;  // query rows per packed-block item (attend_blocks<1..4>)

  std::size_t total = 0;
  for (const auto& j : jobs) {
    for (const auto& s : j.segments) total += s.tokens;
    if (j.blocks.count > 0) total += j.blocks.count * j.blocks.layout->group;
  }
  const std::size_t threads = std::size_t(omp_get_max_threads());
  const std::size_t chunks_per_head = std::max<std::size_t>(1, (32 * threads + kv_heads - 1) / kv_heads);
  const std::size_t chunk_tokens = std::max<std::size_t>(1024, total / chunks_per_head + 1);

  struct item {
    std::uint32_t job, head;
    bool packed;           // packed blocks [first, last), else segments [first, last)
    std::size_t first, last;
    std::uint32_t row0, rows;  // GQA rows of the head this item serves
    std::size_t part;          // offset of its partials (rows of m, l; rows x dim of acc)
  };
  std::vector<item> items;
  std::size_t part_rows = 0;
  for (std::size_t b = 0; b < jobs.size(); ++b) {
    const auto& segs = jobs[b].segments;
    for (std::size_t i = 0; i < segs.size();) {
      std::size_t j = i, acc = 0;
      while (j < segs.size() && (acc == 0 || acc + segs[j].tokens <= chunk_tokens)) acc += segs[j++].tokens;
      for (std::size_t h = 0; h < kv_heads; ++h) {
        items.push_back({std::uint32_t(b), std::uint32_t(h), false, i, j, 0, std::uint32_t(group), part_rows});
        part_rows += group;
      }
      i = j;
    }
    const quant::block_span& bs = jobs[b].blocks;
    if (bs.count == 0) continue;
    const std::size_t per_range = std::max<std::size_t>(1, chunk_tokens / bs.layout->group);
    for (std::size_t b0 = 0; b0 < bs.count; b0 += per_range)
      for (std::size_t h = 0; h < kv_heads; ++h)
        for (std::size_t r0 = 0; r0 < group; r0 += quant_rows) {
          const std::size_t nr = std::min(quant_rows, group - r0);
          items.push_back({std::uint32_t(b), std::uint32_t(h), true, b0, std::min(bs.count, b0 + per_range),
                           std::uint32_t(r0), std::uint32_t(nr), part_rows});
          part_rows += nr;
        }
  }
  // largest first: with dynamic scheduling the long sequences' items do not land last and leave
  // one thread working alone at the end (the batch lists sequences in any order)
  auto cost = [&](const item& w) {
    if (w.packed) return (w.last - w.first) * jobs[w.job].blocks.layout->group * w.rows / group;
    std::size_t t = 0;
    for (std::size_t si = w.first; si < w.last; ++si) t += jobs[w.job].segments[si].tokens;
    return t;
  };
  std::stable_sort(items.begin(), items.end(), [&](const item& a, const item& b) { return cost(a) > cost(b); });
  std::vector<float> pm(part_rows, -std::numeric_limits<float>::infinity()), pl(part_rows, 0.0f);
  std::vector<float> pacc(part_rows * dim, 0.0f);

#pragma omp parallel
  {
    detail::dense_scratch scratch;
#pragma omp for schedule(dynamic, 1)
    for (std::size_t it = 0; it < items.size(); ++it) {
      const item& w = items[it];
      const decode_job<T>& job = jobs[w.job];
      float* m = &pm[w.part];
      float* l = &pl[w.part];
      float* a = &pacc[w.part * dim];
      if (!w.packed) {
        for (std::size_t si = w.first; si < w.last; ++si) {
          const auto& seg = job.segments[si];
          if (seg.tokens == 0) continue;
          detail::attend_rows(job.qs + w.head * group * dim, group, dim, seg.k.row(0, w.head), seg.k.token_stride,
                              seg.v.row(0, w.head), seg.v.token_stride, seg.tokens, m, l, a, scratch,
                              si + 1 < w.last ? detail::key_run(job.segments[si + 1], w.head, all_visible)
                                              : detail::simd::row_run<T>{});
        }
        continue;
      }
      const float* q[quant_rows];
      for (std::size_t r = 0; r < w.rows; ++r) q[r] = job.qs_blocks + (w.head * group + w.row0 + r) * dim;
      switch (w.rows) {
        case 1: detail::attend_blocks<1>(job.blocks, w.head, q, w.first, w.last, m, l, a); break;
        case 2: detail::attend_blocks<2>(job.blocks, w.head, q, w.first, w.last, m, l, a); break;
        case 3: detail::attend_blocks<3>(job.blocks, w.head, q, w.first, w.last, m, l, a); break;
        default: detail::attend_blocks<4>(job.blocks, w.head, q, w.first, w.last, m, l, a); break;
      }
    }
  }
  for (const item& w : items)
    for (std::size_t r = 0; r < w.rows; ++r)
      jobs[w.job].state->merge(w.head * group + w.row0 + r, pm[w.part + r], pl[w.part + r], &pacc[(w.part + r) * dim]);
}

}  // namespace kvc
