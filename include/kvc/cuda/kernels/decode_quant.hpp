// Split-K decode attention on packed 1/2/4/8-bit K/V blocks with no dequantized copy: the key
// scale folded into q and the key mins into one bias per block; one CTA per (chunk of blocks, KV head).
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
#include "kvc/quant/block_span.hpp"
#include "kvc/quant/group_params.hpp"
#include "kvc/quant/layout.hpp"

namespace kvc::cuda::kernels {

/// One decode step's attention over `blocks` packed blocks (block b = stored tokens
/// [b * group, (b + 1) * group)). The residual window and sinks are dense rows: decode_dense
/// attends them into other slots of the same partials.
struct decode_quant_params {
  const float* q = nullptr;                    // [q_heads, head_dim] (rotated when the keys were)
  quant::block_layout layout;                  // bits, group, head_dim, kv_heads
  const std::uint8_t* const* chunks = nullptr; // block storage as quant::block_span reads it
  std::size_t blocks_per_chunk = 1;
  std::size_t blocks = 0;
  std::size_t chunk_blocks = 1;                // blocks per CTA: the split (chunks = ceil(blocks / chunk_blocks), at least 1)
  int q_heads = 0;
  float scale = 0;                             // softmax scale
  partials out;
  int first_slot = 0;

  int group() const { return q_heads / int(layout.kv_heads); }
  std::size_t chunks_count() const { return blocks == 0 ? 1 : (blocks + chunk_blocks - 1) / chunk_blocks; }
  KVC_HOST_DEVICE quant::block_span span() const { return {&layout, chunks, blocks_per_chunk, blocks}; }

  /// Throws kvc::error naming the first field out of the kernel's range.
  void validate() const {
    layout.validate();
    detail::require(q && out.m && out.l && out.acc && (blocks == 0 || chunks), "decode_quant: a null pointer among q, chunks, out");
    const int kv = int(layout.kv_heads), dim = int(layout.head_dim);
    detail::require(q_heads % kv == 0, "decode_quant: q_heads (", q_heads, ") must be a multiple of kv_heads (", kv, ")");
    detail::require(group() <= max_group, "decode_quant: GQA group ", group(), " exceeds ", max_group);
    detail::require(dim <= max_head_dim, "decode_quant: head_dim ", dim, " exceeds ", max_head_dim);
    detail::require(layout.group <= std::size_t(tile_tokens), "decode_quant: block group ", layout.group, " exceeds ", tile_tokens);
    detail::require(out.head_dim == dim, "decode_quant: partials of head_dim ", out.head_dim, ", not ", dim);
    detail::require(chunk_blocks > 0 && blocks_per_chunk > 0, "decode_quant: chunk_blocks and blocks_per_chunk must be positive");
    detail::require(first_slot >= 0 && first_slot + int(chunks_count()) <= out.slots, "decode_quant: slots ", first_slot,
                    " .. ", first_slot + int(chunks_count()), " outside the workspace's ", out.slots);
  }
};

/// The kernel: grid (chunks, kv_heads), block_threads threads. Phases: set up (scaled queries,
/// empty state), fold the first block, then per block {score, raise max, exponentiate,
/// accumulate V while folding the next block}, then store the partial. The fold: q'_c = q_c s_c
/// and bias = Σ_c q_c m_c, so a key's score is bias + Σ_c q'_c code_c. Thread t scores block
/// token t, reading byte t % row of each key channel row (consecutive threads, consecutive
/// bytes); in the V phase thread i owns (query head, channel) pairs i, i + block_threads, ...
struct decode_quant {
  using params = decode_quant_params;
  static constexpr int threads = block_threads;
  struct shared {
    decode_state st;                   // st.q holds q' of the block being scored
    float q[max_group][max_head_dim];  // the scaled query
    float bias[max_group];             // Σ_c q_c m_c of that block
  };
  struct regs {};

  static grid_shape grid(const params& p) { return {unsigned(p.chunks_count()), unsigned(p.layout.kv_heads), 1}; }
  KVC_HOST_DEVICE static int phases(const params& p) { return 3 + 4 * int(p.chunk_blocks); }

  /// q' and bias of head h's slice of block b (threads stride over q'; threads < group sum a bias).
  KVC_HOST_DEVICE static void fold(const params& p, std::size_t b, int h, int tid, shared& s) {
    const quant::block_layout& L = p.layout;
    const int group = p.q_heads / int(L.kv_heads), dim = int(L.head_dim);
    const std::uint8_t* slice = p.span().slice(b, std::size_t(h));
    const f16* scales = reinterpret_cast<const f16*>(slice + L.key_scales_off());
    const f16* mins = reinterpret_cast<const f16*>(slice + L.key_mins_off());
    for (int i = tid; i < group * dim; i += threads) s.st.q[i / dim][i % dim] = s.q[i / dim][i % dim] * to_float(scales[i % dim]);
    if (tid < group) {
      float bias = 0.0f;
      for (int c = 0; c < dim; ++c) bias = fmaf(s.q[tid][c], to_float(mins[c]), bias);
      s.bias[tid] = bias;
    }
  }

  KVC_HOST_DEVICE static void phase(int ph, const params& p, block_index bi, int tid, shared& s, regs&) {
    const quant::block_layout& L = p.layout;
    const int group = p.q_heads / int(L.kv_heads), dim = int(L.head_dim), h = int(bi.y);
    const std::size_t first = std::size_t(bi.x) * p.chunk_blocks;
    const std::size_t end = first + p.chunk_blocks < p.blocks ? first + p.chunk_blocks : p.blocks;
    if (ph == 0) {
      for (int i = tid; i < group * dim; i += threads)
        s.q[i / dim][i % dim] = p.q[std::size_t(h * group + i / dim) * std::size_t(dim) + std::size_t(i % dim)] * p.scale;
      online_softmax::start(s.st, tid, group, dim);
      return;
    }
    if (ph == 1) {
      if (first < end) fold(p, first, h, tid, s);
      return;
    }
    if (ph == 2 + 4 * int(p.chunk_blocks)) {
      online_softmax::store(s.st, p.out, tid, group, dim, h * group, p.first_slot + int(bi.x));
      return;
    }
    const std::size_t b = first + std::size_t((ph - 2) / 4);
    const int n = b < end ? int(L.group) : 0;
    switch ((ph - 2) % 4) {
      case 0:  // scores of block token tid against the group's q'
        if (tid < n) {
          // token tid sits in byte tid % row of every channel row, at the same shift (block_layout::key_slot)
          const quant::code_slot at = L.key_slot(std::size_t(tid), 0);
          const unsigned row = unsigned(L.key_row_bytes());
          const std::uint8_t* codes = p.span().slice(b, std::size_t(h)) + L.key_codes_off() + at.byte;
          const std::uint32_t mask = quant::max_code(L.key_bits);
          float dot[max_group];
          for (int g = 0; g < group; ++g) dot[g] = s.bias[g];
          for (int c = 0; c < dim; ++c) {
            const float code = float((std::uint32_t(codes[unsigned(c) * row]) >> at.shift) & mask);
            for (int g = 0; g < group; ++g) dot[g] = fmaf(s.st.q[g][c], code, dot[g]);
          }
          for (int g = 0; g < group; ++g) s.st.score[g][tid] = dot[g];
        }
        break;
      case 1: online_softmax::raise_max(s.st, tid, group, n); break;
      case 2: online_softmax::exponentiate(s.st, tid, group, n); break;
      case 3: {  // acc <- acc * corr + Σ_t p_t v̂_t, and l; then the next block's fold
        online_softmax::add_sum(s.st, tid, group, n);
        if (n) {
          const std::uint8_t* slice = p.span().slice(b, std::size_t(h));
          const std::uint8_t* codes = slice + L.value_codes_off();
          const f16* scales = reinterpret_cast<const f16*>(slice + L.value_scales_off());
          const f16* mins = reinterpret_cast<const f16*>(slice + L.value_mins_off());
          const std::uint32_t mask = quant::max_code(L.value_bits);
          const std::size_t ng = L.value_groups();
          const unsigned row = unsigned(L.value_row_bytes());
          for (int i = tid; i < group * dim; i += threads) {
            const int g = i / dim, d = i % dim;
            // channel d sits in byte d % row of every token row, at the same shift (block_layout::value_slot)
            const quant::code_slot at = L.value_slot(0, std::size_t(d));
            const unsigned k0 = unsigned(d) / unsigned(L.group);  // its channel group
            float a = s.st.acc[g][d] * s.st.corr[g];
            for (int t = 0; t < n; ++t) {
              const unsigned k = unsigned(t) * unsigned(ng) + k0;
              const std::uint32_t code = (std::uint32_t(codes[unsigned(t) * row + at.byte]) >> at.shift) & mask;
              a = fmaf(s.st.score[g][t], quant::dequant(code, to_float(scales[k]), to_float(mins[k])), a);
            }
            s.st.acc[g][d] = a;
          }
        } else {
          for (int i = tid; i < group * dim; i += threads) s.st.acc[i / dim][i % dim] *= s.st.corr[i / dim];
        }
        if (b + 1 < end) fold(p, b + 1, h, tid, s);
        break;
      }
    }
  }
};

}  // namespace kvc::cuda::kernels
