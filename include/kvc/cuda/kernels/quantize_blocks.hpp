// Quantize-on-append: G tokens of K and V rows (bf16/f16/f32) into packed blocks, codes and f16
// scale/min bit for bit those of the CPU *_ref codecs (keys per channel, values per token group).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kvc/config.hpp"
#include "kvc/core/dtype.hpp"
#include "kvc/core/error.hpp"
#include "kvc/cuda/kernels/decode_state.hpp"
#include "kvc/cuda/kernels/phase_kernel.hpp"
#include "kvc/quant/group_params.hpp"
#include "kvc/quant/layout.hpp"

namespace kvc::cuda::kernels {

/// Head h's slice of block b in chunked block storage (the layout quant::block_span reads).
KVC_HOST_DEVICE inline std::uint8_t* block_slice(std::uint8_t* const* chunks, std::size_t blocks_per_chunk,
                                                 const quant::block_layout& L, std::size_t b, std::size_t h) {
  const unsigned bpc = unsigned(blocks_per_chunk), block = unsigned(b);  // 32-bit: block counts stay far below 2^32
  return chunks[block / bpc] + (h * bpc + block % bpc) * L.head_bytes();
}

/// Rows [0, blocks * group) of K and V become blocks first_block .. first_block + blocks - 1.
template <class T>
struct quantize_blocks_params {
  const T* k = nullptr;                  // row r, KV head h at k[r * row_stride + h * head_dim]
  const T* v = nullptr;                  // same layout as k
  std::size_t row_stride = 0;
  quant::block_layout layout;
  std::uint8_t* const* chunks = nullptr; // block storage, chunks of blocks_per_chunk blocks
  std::size_t blocks_per_chunk = 1;
  std::size_t first_block = 0, blocks = 0;

  void validate() const {
    layout.validate();
    detail::require(blocks == 0 || (k && v && chunks), "quantize_blocks: a null pointer among k, v, chunks");
    detail::require(layout.head_dim <= std::size_t(max_head_dim), "quantize_blocks: head_dim ", layout.head_dim,
                    " exceeds ", max_head_dim);
    detail::require(row_stride >= layout.kv_heads * layout.head_dim, "quantize_blocks: row_stride ", row_stride,
                    " is shorter than kv_heads * head_dim");
    detail::require(blocks_per_chunk > 0, "quantize_blocks: blocks_per_chunk must be positive");
  }
};

/// The kernel: grid (blocks, kv_heads), block_threads threads, two phases.
/// 1. Thread c (and c + block_threads, ...) finds channel c's key range over the G tokens and
///    writes its scale and min; threads stride over the (token, channel group) pairs of the
///    values and write theirs. Both are kept in shared memory as floats.
/// 2. Thread c packs channel c's key row (byte i holds tokens i, i + row, ...); threads stride
///    over (token, byte) pairs of the value rows. Padding bytes are left as they were.
template <class T>
struct quantize_blocks {
  using params = quantize_blocks_params<T>;
  static constexpr int threads = block_threads;
  struct shared {
    float key_scale[max_head_dim], key_min[max_head_dim];
    float value_scale[max_head_dim], value_min[max_head_dim];  // [group, head_dim / group] = head_dim per head
  };
  struct regs {};

  static grid_shape grid(const params& p) { return {unsigned(p.blocks), unsigned(p.layout.kv_heads), 1}; }
  KVC_HOST_DEVICE static int phases(const params&) { return 2; }

  // Index arithmetic is 32-bit (a block holds at most 128 x 256 elements): 64-bit division
  // is a subroutine call on the GPU.
  KVC_HOST_DEVICE static void phase(int ph, const params& p, block_index bi, int tid, shared& s, regs&) {
    const quant::block_layout& L = p.layout;
    const unsigned G = unsigned(L.group), D = unsigned(L.head_dim), h = bi.y, ng = D / G;
    const std::size_t row0 = std::size_t(bi.x) * G;
    std::uint8_t* slice = block_slice(p.chunks, p.blocks_per_chunk, L, p.first_block + bi.x, h);
    auto at = [&](const T* x, unsigned t, unsigned c) { return to_float(x[(row0 + t) * p.row_stride + h * D + c]); };
    if (ph == 0) {
      f16* ks = reinterpret_cast<f16*>(slice + L.key_scales_off());
      f16* km = reinterpret_cast<f16*>(slice + L.key_mins_off());
      for (unsigned c = unsigned(tid); c < D; c += threads) {
        float lo = INFINITY, hi = -INFINITY;
        for (unsigned t = 0; t < G; ++t) lo = fminf(lo, at(p.k, t, c)), hi = fmaxf(hi, at(p.k, t, c));
        const quant::group_params g = quant::make_group_params(lo, hi, L.key_bits);
        ks[c] = g.scale, km[c] = g.min;
        s.key_scale[c] = to_float(g.scale), s.key_min[c] = to_float(g.min);
      }
      f16* vs = reinterpret_cast<f16*>(slice + L.value_scales_off());
      f16* vm = reinterpret_cast<f16*>(slice + L.value_mins_off());
      for (unsigned i = unsigned(tid); i < G * ng; i += threads) {  // (token, channel group) pairs
        const unsigned t = i / ng, c0 = (i % ng) * G;
        float lo = INFINITY, hi = -INFINITY;
        for (unsigned c = c0; c < c0 + G; ++c) lo = fminf(lo, at(p.v, t, c)), hi = fmaxf(hi, at(p.v, t, c));
        const quant::group_params g = quant::make_group_params(lo, hi, L.value_bits);
        vs[i] = g.scale, vm[i] = g.min;
        s.value_scale[i] = to_float(g.scale), s.value_min[i] = to_float(g.min);
      }
      return;
    }
    const unsigned kb = unsigned(L.key_bits), krow = G * kb / 8, kper = 8 / kb;
    const float kmax = float(quant::max_code(L.key_bits));
    std::uint8_t* kcodes = slice + L.key_codes_off();
    for (unsigned c = unsigned(tid); c < D; c += threads)  // byte i of channel c's row: tokens i, i + krow, ...
      for (unsigned i = 0; i < krow; ++i) {
        std::uint32_t byte = 0;
        for (unsigned j = 0; j < kper; ++j)
          byte |= quant::quant_code(at(p.k, j * krow + i, c), s.key_min[c], s.key_scale[c], kmax) << (j * kb);
        kcodes[c * krow + i] = std::uint8_t(byte);
      }
    const unsigned vb = unsigned(L.value_bits), vrow = D * vb / 8, vper = 8 / vb;
    const float vmax = float(quant::max_code(L.value_bits));
    std::uint8_t* vcodes = slice + L.value_codes_off();
    for (unsigned i = unsigned(tid); i < G * vrow; i += threads) {  // byte i % vrow of token i / vrow: channels b, b + vrow, ...
      const unsigned t = i / vrow, b = i % vrow;
      std::uint32_t byte = 0;
      for (unsigned j = 0; j < vper; ++j) {
        const unsigned c = j * vrow + b, g = t * ng + c / G;
        byte |= quant::quant_code(at(p.v, t, c), s.value_min[g], s.value_scale[g], vmax) << (j * vb);
      }
      vcodes[i] = std::uint8_t(byte);
    }
  }
};

}  // namespace kvc::cuda::kernels
