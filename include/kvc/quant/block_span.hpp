// The packed blocks of one layer as a kernel reads them: chunk pointers, blocks per chunk, a count.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvc/config.hpp"
#include "kvc/quant/layout.hpp"

namespace kvc::quant {

/// The quantized blocks of one layer: `count` blocks laid out by `layout`, block b holding
/// stored tokens [b * group, (b + 1) * group) of the quantized range. Blocks live in chunks of
/// `blocks_per_chunk`; a chunk is [kv_heads][blocks_per_chunk][layout->head_bytes()], so one
/// head's slices of consecutive blocks are adjacent in memory and stream.
struct block_span {
  const block_layout* layout = nullptr;
  const std::uint8_t* const* chunks = nullptr;
  std::size_t blocks_per_chunk = 1;
  std::size_t count = 0;

  /// Head h's slice of block b.
  KVC_HOST_DEVICE const std::uint8_t* slice(std::size_t b, std::size_t h) const {
    return chunks[b / blocks_per_chunk] +
           (h * blocks_per_chunk + b % blocks_per_chunk) * layout->head_bytes();
  }
};

}  // namespace kvc::quant
