// SIMD fast path of the dense attention kernel: stored rows widened in registers, any vector width.
//
// Query and accumulator rows are kept in the lane order of simd::load_pair<T> (simd::to_slots),
// so bf16 rows widen with one shift or mask per vector and no shuffles. Both loops keep every
// accumulator in registers: scores take two key rows against up to four query heads at once
// (eight dot products, summed across lanes together); the value loop holds a tile of up to four
// heads by one or two pairs of channels while value rows stream by.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "kvc/detail/simd.hpp"

namespace kvc::detail::simd {

/// Rows that the first block's key loads run ahead of (later blocks' keys are asked for by the
/// value pass before them): prefetched so that many misses are in flight at once.
inline constexpr std::size_t key_prefetch_rows = 16;

/// `count` rows of T, `stride` elements apart, to prefetch while a pass runs.
template <class T>
struct row_run {
  const T* rows = nullptr;
  std::ptrdiff_t stride = 0;
  std::size_t count = 0;
};

/// Prefetches the cache lines of `rows` rows of a run, starting at row `first`, evenly over a
/// loop of `steps` iterations: call tick() once per iteration. Spread this way the requests
/// keep memory busy through the loop; issued all at once they fill the core's miss buffers
/// and stall the loads of the loop itself.
template <class T>
class spread_prefetch {
 public:
  spread_prefetch(const row_run<T>& run, std::size_t first, std::size_t rows, std::size_t row_bytes,
                  std::size_t steps)
      : row_(reinterpret_cast<const char*>(run.rows + std::ptrdiff_t(first) * run.stride)),
        row_stride_(run.stride * std::ptrdiff_t(sizeof(T))),
        per_row_((row_bytes + line_bytes - 1) / line_bytes),
        left_(rows * per_row_),
        lines_(left_),
        steps_(std::max<std::size_t>(1, steps)) {}

  /// One iteration's share: on average lines / steps requests (Bresenham-style, no division).
  void tick() {
    for (debt_ += lines_; debt_ >= steps_ && left_ > 0; debt_ -= steps_) next();
  }

 private:
  static constexpr std::size_t line_bytes = 64;
  void next() {
    __builtin_prefetch(row_ + line_ * line_bytes, 0, 1);
    --left_;
    if (++line_ == per_row_) line_ = 0, row_ += row_stride_;
  }
  const char* row_;
  std::ptrdiff_t row_stride_;
  std::size_t per_row_, left_, lines_, steps_;
  std::size_t line_ = 0, debt_ = 0;
};

/// What the score loop prefetches besides its own keys: the value rows of its tokens (read
/// right after the block's softmax), and how many key rows past `k` it may prefetch ahead
/// (0 when an earlier value pass has already asked for them). The value pass in turn asks for
/// the next block's keys (dense_accumulate's `ahead`), so memory stays busy in every phase.
template <class T>
struct prefetch_plan {
  row_run<T> values;
  std::size_t key_rows = 0;
};

/// s[g * stride + t] = q_g · k_t for g < NG (<= 4), t < tokens. q [NG, dim] in slot order;
/// dim a multiple of `pair` (C = dim / pair when known at compile time, else 0); k rows
/// `k_stride` elements apart.
template <class T, std::size_t NG, std::size_t C>
inline void dense_scores_heads(const float* q, std::size_t dim, const T* k, std::ptrdiff_t k_stride,
                               std::size_t tokens, float* s, std::size_t stride, const prefetch_plan<T>& pf) {
  static_assert(NG >= 1 && NG <= 4);
  if constexpr (C != 0) dim = C * pair;
  const std::size_t row_bytes = dim * sizeof(T);
  for (std::size_t t = 0; t < tokens; t += 2) {
    const bool two = t + 1 < tokens;
    const T* k0 = k + std::ptrdiff_t(t) * k_stride;
    const T* k1 = two ? k0 + k_stride : k0;
    for (std::size_t j = t; j < std::min(t + 2, pf.values.count); ++j)
      prefetch(pf.values.rows + std::ptrdiff_t(j) * pf.values.stride, row_bytes);
    for (std::size_t j = t + key_prefetch_rows; j < std::min(t + 2 + key_prefetch_rows, pf.key_rows); ++j)
      prefetch(k + std::ptrdiff_t(j) * k_stride, row_bytes);
    vf a[8] = {};  // a[g]: token t, a[4 + g]: token t + 1
    for (std::size_t c = 0; c < dim; c += pair) {
      vf l0, h0, l1, h1;
      load_pair(k0 + c, l0, h0);
      load_pair(k1 + c, l1, h1);
      for (std::size_t g = 0; g < NG; ++g) {
        const vf ql = load(q + g * dim + c), qh = load(q + g * dim + c + width);
        a[g] += ql * l0;
        a[g] += qh * h0;
        a[4 + g] += ql * l1;
        a[4 + g] += qh * h1;
      }
    }
    float r[8];
    sum_lanes8(a, r);
    for (std::size_t g = 0; g < NG; ++g) {
      s[g * stride + t] = r[g];
      if (two) s[g * stride + t + 1] = r[4 + g];
    }
  }
}

/// s[g * stride + t] = q_g · k_t for g < group, t < tokens (q in slot order, dim % pair == 0).
/// Calls f(std::integral_constant<std::size_t, C>) with C = dim / pair for the common head
/// sizes 64, 128 and 256 (loops fully unrolled), C = 0 (a runtime loop) for others.
template <class F>
inline void visit_pairs(std::size_t dim, F&& f) {
  using std::integral_constant;
  static_assert(64 % pair == 0, "the unrolled head sizes are whole pairs");
  if (dim == 64) return f(integral_constant<std::size_t, 64 / pair>{});
  if (dim == 128) return f(integral_constant<std::size_t, 128 / pair>{});
  if (dim == 256) return f(integral_constant<std::size_t, 256 / pair>{});
  f(integral_constant<std::size_t, 0>{});
}

/// The first group of heads issues the prefetches of `pf`.
template <class T>
inline void dense_scores(const float* q, std::size_t group, std::size_t dim, const T* k,
                         std::ptrdiff_t k_stride, std::size_t tokens, float* s, std::size_t stride,
                         const prefetch_plan<T>& pf) {
  visit_pairs(dim, [&](auto c) {
    constexpr std::size_t C = decltype(c)::value;
    for (std::size_t g = 0; g < group; g += 4) {
      const float* qg = q + g * dim;
      float* sg = s + g * stride;
      const prefetch_plan<T> p = g == 0 ? pf : prefetch_plan<T>{};
      switch (std::min<std::size_t>(4, group - g)) {
        case 1: dense_scores_heads<T, 1, C>(qg, dim, k, k_stride, tokens, sg, stride, p); break;
        case 2: dense_scores_heads<T, 2, C>(qg, dim, k, k_stride, tokens, sg, stride, p); break;
        case 3: dense_scores_heads<T, 3, C>(qg, dim, k, k_stride, tokens, sg, stride, p); break;
        default: dense_scores_heads<T, 4, C>(qg, dim, k, k_stride, tokens, sg, stride, p); break;
      }
    }
  });
}

/// Pairs of channels per value tile: 4 heads x 2 vectors x tile_pairs accumulators must fit in
/// the register file with the loaded row and the broadcast weights (16 or 32 registers).
inline constexpr std::size_t tile_pairs = registers >= 32 ? 2 : 1;

/// acc[g] += Σ_t p[g * stride + t] · v_t for g < NG (<= 4); acc [NG, dim] in slot order.
/// `ahead` is prefetched a share of rows per tile, its lines spread over the tile's tokens.
template <class T, std::size_t NG>
inline void dense_accumulate_heads(const float* p, std::size_t stride, std::size_t dim, const T* v,
                                   std::ptrdiff_t v_stride, std::size_t tokens, float* acc,
                                   const row_run<T>& ahead) {
  constexpr std::size_t tile = tile_pairs * pair;
  const std::size_t tiles = dim / tile, share = tiles ? (ahead.count + tiles - 1) / tiles : 0;
  std::size_t c0 = 0;
  for (; c0 + tile <= dim; c0 += tile) {
    const std::size_t r0 = std::min(ahead.count, c0 / tile * share);
    spread_prefetch<T> feed(ahead, r0, std::min(share, ahead.count - r0), dim * sizeof(T), tokens);
    vf a[NG][2 * tile_pairs];
    for (std::size_t g = 0; g < NG; ++g)
      for (std::size_t j = 0; j < 2 * tile_pairs; ++j) a[g][j] = load(acc + g * dim + c0 + j * width);
    for (std::size_t t = 0; t < tokens; ++t) {
      feed.tick();
      const T* vr = v + std::ptrdiff_t(t) * v_stride + c0;
      vf w[NG];
      for (std::size_t g = 0; g < NG; ++g) w[g] = splat(p[g * stride + t]);
      for (std::size_t j = 0; j < tile_pairs; ++j) {
        vf lo, hi;
        load_pair(vr + j * pair, lo, hi);
        for (std::size_t g = 0; g < NG; ++g) {
          a[g][2 * j] += w[g] * lo;
          a[g][2 * j + 1] += w[g] * hi;
        }
      }
    }
    for (std::size_t g = 0; g < NG; ++g)
      for (std::size_t j = 0; j < 2 * tile_pairs; ++j) store(acc + g * dim + c0 + j * width, a[g][j]);
  }
  // dim not a multiple of the tile: the rest one pair at a time
  for (; c0 < dim; c0 += pair) {
    vf a[NG][2];
    for (std::size_t g = 0; g < NG; ++g)
      for (std::size_t j = 0; j < 2; ++j) a[g][j] = load(acc + g * dim + c0 + j * width);
    for (std::size_t t = 0; t < tokens; ++t) {
      vf lo, hi;
      load_pair(v + std::ptrdiff_t(t) * v_stride + c0, lo, hi);
      for (std::size_t g = 0; g < NG; ++g) {
        const vf w = splat(p[g * stride + t]);
        a[g][0] += w * lo;
        a[g][1] += w * hi;
      }
    }
    for (std::size_t g = 0; g < NG; ++g)
      for (std::size_t j = 0; j < 2; ++j) store(acc + g * dim + c0 + j * width, a[g][j]);
  }
}

/// acc[g] += Σ_t p[g * stride + t] · v_t for g < group (acc in slot order, dim % pair == 0);
/// the first group of heads prefetches `ahead` (rows of dim elements) on the way.
template <class T>
inline void dense_accumulate(const float* p, std::size_t stride, std::size_t group, std::size_t dim,
                             const T* v, std::ptrdiff_t v_stride, std::size_t tokens, float* acc,
                             const row_run<T>& ahead = {}) {
  for (std::size_t g = 0; g < group; g += 4) {
    const float* pg = p + g * stride;
    float* ag = acc + g * dim;
    const row_run<T> a = g == 0 ? ahead : row_run<T>{};
    switch (std::min<std::size_t>(4, group - g)) {
      case 1: dense_accumulate_heads<T, 1>(pg, stride, dim, v, v_stride, tokens, ag, a); break;
      case 2: dense_accumulate_heads<T, 2>(pg, stride, dim, v, v_stride, tokens, ag, a); break;
      case 3: dense_accumulate_heads<T, 3>(pg, stride, dim, v, v_stride, tokens, ag, a); break;
      default: dense_accumulate_heads<T, 4>(pg, stride, dim, v, v_stride, tokens, ag, a); break;
    }
  }
}

}  // namespace kvc::detail::simd
