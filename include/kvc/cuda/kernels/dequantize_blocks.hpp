// Packed blocks back to f32 rows (a dense view for engines, prefill from the stored form, tests): x̂ = code * scale + min.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvc/config.hpp"
#include "kvc/core/dtype.hpp"
#include "kvc/core/error.hpp"
#include "kvc/cuda/kernels/phase_kernel.hpp"
#include "kvc/quant/block_span.hpp"
#include "kvc/quant/group_params.hpp"
#include "kvc/quant/layout.hpp"

namespace kvc::cuda::kernels {

/// Blocks first_block .. first_block + blocks - 1 into rows [0, blocks * group) of k_out and v_out.
struct dequantize_blocks_params {
  quant::block_layout layout;
  const std::uint8_t* const* chunks = nullptr;
  std::size_t blocks_per_chunk = 1;
  std::size_t first_block = 0, blocks = 0;
  float* k_out = nullptr;  // row r, KV head h at k_out[r * row_stride + h * head_dim]
  float* v_out = nullptr;
  std::size_t row_stride = 0;

  void validate() const {
    layout.validate();
    detail::require(blocks == 0 || (chunks && k_out && v_out), "dequantize_blocks: a null pointer among chunks, k_out, v_out");
    detail::require(row_stride >= layout.kv_heads * layout.head_dim, "dequantize_blocks: row_stride ", row_stride,
                    " is shorter than kv_heads * head_dim");
    detail::require(blocks_per_chunk > 0, "dequantize_blocks: blocks_per_chunk must be positive");
  }
};

/// The kernel: grid (blocks, kv_heads), one phase; threads stride over the block's (token,
/// channel) elements, channels fastest, so the f32 stores coalesce.
struct dequantize_blocks {
  using params = dequantize_blocks_params;
  static constexpr int threads = block_threads;
  struct shared {};
  struct regs {};

  static grid_shape grid(const params& p) { return {unsigned(p.blocks), unsigned(p.layout.kv_heads), 1}; }
  KVC_HOST_DEVICE static int phases(const params&) { return 1; }

  KVC_HOST_DEVICE static void phase(int, const params& p, block_index bi, int tid, shared&, regs&) {
    const quant::block_layout& L = p.layout;
    const quant::block_span span{&L, p.chunks, p.blocks_per_chunk, p.first_block + p.blocks};
    const std::size_t G = L.group, D = L.head_dim, h = bi.y, ng = L.value_groups();
    const std::uint8_t* slice = span.slice(p.first_block + bi.x, h);
    const std::uint8_t* kc = slice + L.key_codes_off();
    const std::uint8_t* vc = slice + L.value_codes_off();
    const f16* ks = reinterpret_cast<const f16*>(slice + L.key_scales_off());
    const f16* km = reinterpret_cast<const f16*>(slice + L.key_mins_off());
    const f16* vs = reinterpret_cast<const f16*>(slice + L.value_scales_off());
    const f16* vm = reinterpret_cast<const f16*>(slice + L.value_mins_off());
    const std::uint32_t kmask = quant::max_code(L.key_bits), vmask = quant::max_code(L.value_bits);
    for (std::size_t i = std::size_t(tid); i < G * D; i += threads) {
      const std::size_t t = i / D, c = i % D, out = (std::size_t(bi.x) * G + t) * p.row_stride + h * D + c;
      const quant::code_slot ka = L.key_slot(t, c), va = L.value_slot(t, c);
      p.k_out[out] = quant::dequant((std::uint32_t(kc[ka.byte]) >> ka.shift) & kmask, to_float(ks[c]), to_float(km[c]));
      const std::size_t g = t * ng + c / G;
      p.v_out[out] = quant::dequant((std::uint32_t(vc[va.byte]) >> va.shift) & vmask, to_float(vs[g]), to_float(vm[g]));
    }
  }
};

}  // namespace kvc::cuda::kernels
