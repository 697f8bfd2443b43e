// The CPU backend: attends a policy's stored_view plus the step's new tokens with the CPU kernels.
//
// # Backends
//
// A policy splits into bookkeeping and storage. The bookkeeping is host-only state: how many
// tokens are held, which positions are sinks, where the residual or recent window starts,
// how many packed blocks exist, which host rows a decode step selected (llama.cpp's "cells").
// The storage is bytes in one memory space: pages, packed blocks with their f16 scales and mins,
// ring buffers, gather buffers. For each step the policy describes what it holds as a
// `stored_view<T>` (segments of exact rows, a `quant::block_span`, a rotation flag, the memory
// space), and a backend attends that description plus the step's new tokens:
//
//     out = softmax(q · [stored ∪ new]ᵀ) · [stored ∪ new], causal among the new tokens,
//
// then the policy stores the new k, v. The CPU backend below is today's kernels: the f32
// online-softmax dense kernel over segments (attention/dense.hpp), the packed-code kernel over
// blocks (attention/quantized.hpp), merged through `softmax_state` with `softmax_merge`.
//
// # How the CUDA backend implements the same description
//
// `kvc::cuda::attend_step(shape, stored_view<T>, q, k, v, out, stream)` (cuda/, plain C++ API in
// include/kvc/cuda/) takes the same struct with `space == memory_space::device`: segment row
// pointers and the block_span's chunk table point into `cudaMalloc`ed pools, and q, k, v, out
// are the engine's device tensors. It enqueues on `stream.native()` (a cudaStream_t):
//
// 1. split-K partials: one CTA per (KV head, chunk of stored tokens), the chunk count chosen
//    from occupancy (flash-decoding); a CTA loads its GQA group's queries once, then for
//    segments runs the dense score/softmax/value loop on bf16/f16/f32 rows, and for blocks
//    unpacks codes in registers with the key scale folded into q and the mins into one bias per
//    block — the same arithmetic as `quant::group_params`/`block_layout`, which are
//    KVC_HOST_DEVICE, so encoder and decoder share one definition of the format;
// 2. the new tokens: one more partial per (query, KV head), causal among them;
// 3. a merge kernel that folds the fp32 (m, l, acc) partials with `softmax_merge` (NaN-safe:
//    a partial that saw no keys has l = 0 and is skipped) and writes out with
//    `softmax_normalize`.
//
// The policy's store after the step becomes an append kernel (rows into the window or pages,
// and, when a block of G tokens leaves the residual window, the quantize kernel writing codes,
// scales and mins bit for bit as `quant::encode_key_block_ref`). Sparse selection becomes
// scoring + top-k kernels whose indices stay on the device, and the tier link's copies become
// cudaMemcpyAsync / zero-copy reads of pinned host memory on the same stream. Each kernel is
// written as barrier-separated phases over explicit block and thread indices, so a test-only
// CPU emulator runs the same phases in CTest where no GPU exists (research/cuda.md §3).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "kvc/attention/decode_batch.hpp"
#include "kvc/attention/dense.hpp"
#include "kvc/attention/quantized.hpp"
#include "kvc/attention/softmax_state.hpp"
#include "kvc/backend/stored_view.hpp"
#include "kvc/core/kv_segment.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/step_checks.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/detail/convert_row.hpp"
#include "kvc/quant/hadamard.hpp"

namespace kvc {

namespace detail {

/// qs `[n, q_heads, head_dim]` = q * softmax scale, as f32.
inline void scaled_queries(const layer_shape& shape, const dyn_view3& q, std::vector<float>& qs) {
  const std::size_t n = q.extent(0), hq = std::size_t(shape.q_heads), dim = std::size_t(shape.head_dim);
  qs.resize(n * hq * dim);
  const float scale = shape.softmax_scale();
  visit_dtype(q.type, [&](auto tag) {
    using T = decltype(tag);
    const auto qt = q.as<T>();
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t h = 0; h < hq; ++h) {
        float* dst = &qs[(i * hq + h) * dim];
        to_f32_row(qt.row(i, h), dst, dim);
        for (std::size_t d = 0; d < dim; ++d) dst[d] *= scale;
      }
  });
}

/// The segment view of activations k, v `[n, kv_heads, head_dim]` placed at position `start`.
template <class T>
kv_segment<T> segment_of(const dyn_view3& k, const dyn_view3& v, std::size_t start) {
  return {{static_cast<const T*>(k.data), k.strides[0], k.strides[1]},
          {static_cast<const T*>(v.data), v.strides[0], v.strides[1]},
          start,
          k.extent(0)};
}

/// Exact causal attention of the n new queries over the n new keys (query i sees new keys 0..i).
inline void attend_new_tokens(const layer_shape& shape, const float* qs, const dyn_view3& k,
                              const dyn_view3& v, softmax_state& state) {
  const std::size_t n = k.extent(0);
  if (n == 0) return;
  visit_dtype(k.type, [&](auto tag) {
    using T = decltype(tag);
    const kv_segment<T> seg = segment_of<T>(k, v, 0);
    attend_dense<T>(qs, n, shape, std::span<const kv_segment<T>>(&seg, 1), 0, state);
  });
}

/// out `[n, q_heads, head_dim]` = normalised state rows.
inline void write_output(const layer_shape& shape, const softmax_state& state,
                         const tensor_view<float, 3>& out) {
  const std::size_t hq = std::size_t(shape.q_heads);
  for (std::size_t r = 0; r < state.rows; ++r) state.write(r, out.row(r / hq, r % hq));
}

}  // namespace detail

namespace cpu {

/// Attention of one append-and-attend step on the CPU: q `[n, q_heads, head_dim]` over everything
/// `stored` names and over the step's new k, v `[n, kv_heads, head_dim]` (exact, causal among
/// them), into out `[n, q_heads, head_dim]` f32. Does not store k, v: the policy does that
/// afterwards. Checks shapes, dtypes and that every tensor and the storage are host-accessible;
/// runs synchronously (the stream is not used). n = 0 writes nothing.
template <class T>
void attend_step(const layer_shape& shape, const stored_view<T>& stored, const dyn_view3& q, const dyn_view3& k,
                 const dyn_view3& v, const tensor_view<float, 3>& out, stream = {}) {
  const std::size_t n = check_step(shape, q, k, v, out);
  detail::require_host_accessible(stored.space, "the cache's storage");
  if (n == 0) return;
  thread_local std::vector<float> qs, rotated;
  thread_local softmax_state state;
  detail::scaled_queries(shape, q, qs);
  state.reset(n * std::size_t(shape.q_heads), std::size_t(shape.head_dim));
  if (stored.blocks.count > 0) {
    const float* qq = qs.data();
    if (stored.rotated_keys) {  // rotate the queries as the keys were
      const std::size_t D = std::size_t(shape.head_dim), rows = n * std::size_t(shape.q_heads);
      rotated.assign(qs.begin(), qs.end());
      for (std::size_t r = 0; r < rows; ++r) quant::hadamard_rotate(&rotated[r * D], D);
      qq = rotated.data();
    }
    attend_quantized(qq, n, shape, stored.blocks, state);
  }
  if (!stored.segments.empty())
    attend_dense<T>(qs.data(), n, shape, std::span<const kv_segment<T>>(stored.segments), all_visible, state);
  detail::attend_new_tokens(shape, qs.data(), k, v, state);
  detail::write_output(shape, state, out);
}

/// Attention of a varlen batch on the CPU: sequence b's new tokens are rows [first[b], first[b+1])
/// of q `[rows, q_heads, head_dim]`, k, v `[rows, kv_heads, head_dim]` and out; each attends
/// `stored[b]` plus its own new tokens (causal), never another sequence's. When every sequence
/// brings one token (batched decode) the whole batch is one parallel pass over (sequence, KV
/// head, chunk) items (attend_decode_batch); otherwise each sequence's step runs in turn, a
/// prefill chunk being work enough for every thread. Does not store k, v.
template <class T>
void attend_batch(const layer_shape& shape, std::span<const stored_view<T>> stored, std::span<const std::size_t> first,
                  const dyn_view3& q, const dyn_view3& k, const dyn_view3& v, const tensor_view<float, 3>& out,
                  stream s = {}) {
  const std::size_t rows = check_step(shape, q, k, v, out);
  detail::require(first.size() == stored.size() + 1 && first.front() == 0 && first.back() == rows,
                  "attend_batch: the batch's row offsets do not cover the ", rows, " rows");
  bool decode = true;
  for (std::size_t b = 0; b < stored.size(); ++b) {
    detail::require(first[b] <= first[b + 1], "attend_batch: row offsets must not decrease");
    detail::require_host_accessible(stored[b].space, "the cache's storage");
    decode = decode && first[b + 1] - first[b] == 1;
  }
  if (!decode) {
    for (std::size_t b = 0; b < stored.size(); ++b) {
      const std::size_t n = first[b + 1] - first[b];
      attend_step(shape, stored[b], q.rows(first[b], n), k.rows(first[b], n), v.rows(first[b], n), out.rows(first[b], n), s);
    }
    return;
  }
  const std::size_t B = stored.size(), hq = std::size_t(shape.q_heads), D = std::size_t(shape.head_dim);
  thread_local std::vector<float> qs, rotated;
  thread_local std::vector<softmax_state> states;
  detail::scaled_queries(shape, q, qs);
  rotated.resize(qs.size());
  if (states.size() < B) states.resize(B);
  std::vector<decode_job<T>> jobs(B);
  for (std::size_t b = 0; b < B; ++b) {
    states[b].reset(hq, D);
    const float* qb = &qs[b * hq * D];
    const float* q_blocks = qb;
    if (stored[b].blocks.count > 0 && stored[b].rotated_keys) {  // rotate the queries as the keys were
      float* rq = &rotated[b * hq * D];
      std::copy_n(qb, hq * D, rq);
      for (std::size_t h = 0; h < hq; ++h) quant::hadamard_rotate(rq + h * D, D);
      q_blocks = rq;
    }
    jobs[b] = {qb, q_blocks, stored[b].segments, stored[b].blocks, &states[b]};
  }
  attend_decode_batch<T>(shape, jobs);
  // each sequence's new token attends itself: one key, weight exp(s - s) = 1
  std::vector<float> kf(D), vf(D);
  const std::size_t group = std::size_t(shape.group());
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t h = 0; h < hq; ++h) {
      detail::to_f32_row(k.row_ptr(b, h / group), k.type, kf.data(), D);
      detail::to_f32_row(v.row_ptr(b, h / group), v.type, vf.data(), D);
      const float score = detail::dot_f32(&qs[(b * hq + h) * D], kf.data(), D);
      states[b].merge(h, score, 1.0f, vf.data());
    }
    detail::write_output(shape, states[b], out.rows(b, 1));
  }
}

}  // namespace cpu
}  // namespace kvc
