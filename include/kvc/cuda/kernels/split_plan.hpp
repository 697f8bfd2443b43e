// How a decode step splits its keys over CTAs (flash-decoding split-K): a pure host function, tested without a GPU.
#pragma once

#include <cstddef>

#include "kvc/core/error.hpp"

namespace kvc::cuda::kernels {

/// The split of one decode step over `kv_heads` KV heads.
struct decode_split {
  std::size_t chunk = 0;   // keys (or blocks) per CTA
  std::size_t chunks = 0;  // CTAs per KV head (at least 1)
  std::size_t ctas(std::size_t kv_heads) const { return chunks * kv_heads; }
};

/// The device facts the split is sized from.
struct split_target {
  int sms = 132;           // multiprocessors (H200: 132)
  int ctas_per_sm = 8;     // resident decode CTAs per SM (the occupancy query's answer)
  std::size_t min_chunk = 256;  // below this a CTA's work does not pay for its partial and merge
};

/// FlashInfer's rule: fill one wave of sms * ctas_per_sm CTAs, but give no CTA fewer than
/// min_chunk keys; chunks are whole multiples of `granule` (1 for dense rows, the block's G
/// for packed blocks, counted in keys). `keys` = 0 gives one empty chunk.
inline decode_split plan_decode_split(std::size_t keys, std::size_t kv_heads, const split_target& t = {},
                                      std::size_t granule = 1) {
  detail::require(kv_heads > 0 && granule > 0 && t.sms > 0 && t.ctas_per_sm > 0 && t.min_chunk > 0,
                  "plan_decode_split: kv_heads, granule, sms, ctas_per_sm and min_chunk must be positive");
  if (keys == 0) return {granule, 1};
  const std::size_t wave = std::size_t(t.sms) * std::size_t(t.ctas_per_sm);
  const std::size_t per_head = wave / kv_heads > 0 ? wave / kv_heads : 1;
  std::size_t chunk = (keys + per_head - 1) / per_head;
  if (chunk < t.min_chunk) chunk = t.min_chunk;
  chunk = (chunk + granule - 1) / granule * granule;
  return {chunk, (keys + chunk - 1) / chunk};
}

}  // namespace kvc::cuda::kernels
