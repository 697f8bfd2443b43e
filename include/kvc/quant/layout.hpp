// The packed layout of one quantized block (G tokens of every KV head), defined once: where each
// code, scale and min lives, and the byte sizes that footprint() and the kernels (CPU and GPU) rely on.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvc/config.hpp"
#include "kvc/core/dtype.hpp"
#include "kvc/core/error.hpp"
#include "kvc/quant/bits.hpp"

namespace kvc::quant {

/// Where one code sits: byte offset inside its array and bit shift inside the byte.
struct code_slot {
  std::size_t byte;
  unsigned shift;
};

/// One block = `group` consecutive tokens of all `kv_heads` heads, quantized KIVI style:
///
/// - keys per channel over the block's G tokens (one scale/min per (head, channel));
/// - values per token over groups of G channels (one scale/min per (head, token, group)).
///
/// Byte layout of one head's slice of a block (the policy stores the slices of one head for
/// consecutive blocks next to each other, so a kernel working on one head streams one region);
/// each section inside a slice is 64-byte aligned:
///
///   key codes    [head_dim][key_row_bytes]          u8   (channel-major, kernel layout)
///   key scales   [head_dim]                         f16
///   key mins     [head_dim]                         f16
///   value codes  [group][value_row_bytes]           u8   (token-major)
///   value scales [group][head_dim / group]          f16
///   value mins   [group][head_dim / group]          f16
///
/// Packing is LSB-first inside each byte and lane-interleaved across the row: element e of a
/// row of B bytes sits in byte e % B at bit (e / B) * bits. So a byte-vector load of the row
/// followed by one shift and mask yields B consecutive elements (tokens for keys, channels for
/// values) in lane order; nothing is transposed at decode time.
struct block_layout {
  int key_bits = 2;
  int value_bits = 2;
  std::size_t group = 64;     // G: tokens per block = channels per value group
  std::size_t head_dim = 128;
  std::size_t kv_heads = 8;

  static constexpr std::size_t section_align = 64;
  KVC_HOST_DEVICE static constexpr std::size_t align_up(std::size_t n) {
    return (n + section_align - 1) / section_align * section_align;
  }

  // ---- per head -------------------------------------------------------------------------------
  /// Bytes of one key channel row: the block's G tokens at key_bits each.
  KVC_HOST_DEVICE constexpr std::size_t key_row_bytes() const { return group * std::size_t(key_bits) / 8; }
  KVC_HOST_DEVICE constexpr std::size_t key_code_bytes() const { return head_dim * key_row_bytes(); }
  /// Key scales (or mins) per head: one per channel.
  KVC_HOST_DEVICE constexpr std::size_t key_params() const { return head_dim; }
  /// Bytes of one value token row: head_dim channels at value_bits each.
  KVC_HOST_DEVICE constexpr std::size_t value_row_bytes() const { return head_dim * std::size_t(value_bits) / 8; }
  KVC_HOST_DEVICE constexpr std::size_t value_code_bytes() const { return group * value_row_bytes(); }
  /// Value groups per token (head_dim / G).
  KVC_HOST_DEVICE constexpr std::size_t value_groups() const { return head_dim / group; }
  /// Value scales (or mins) per head: one per (token, channel group).
  KVC_HOST_DEVICE constexpr std::size_t value_params() const { return group * value_groups(); }

  // ---- offsets inside one head's slice of a block --------------------------------------------
  KVC_HOST_DEVICE constexpr std::size_t key_codes_off() const { return 0; }
  KVC_HOST_DEVICE constexpr std::size_t key_scales_off() const { return align_up(key_code_bytes()); }
  KVC_HOST_DEVICE constexpr std::size_t key_mins_off() const { return key_scales_off() + align_up(key_params() * 2); }
  KVC_HOST_DEVICE constexpr std::size_t value_codes_off() const { return key_mins_off() + align_up(key_params() * 2); }
  KVC_HOST_DEVICE constexpr std::size_t value_scales_off() const { return value_codes_off() + align_up(value_code_bytes()); }
  KVC_HOST_DEVICE constexpr std::size_t value_mins_off() const { return value_scales_off() + align_up(value_params() * 2); }
  /// Bytes of one head's slice of a block, alignment padding included.
  KVC_HOST_DEVICE constexpr std::size_t head_bytes() const { return value_mins_off() + align_up(value_params() * 2); }

  /// Bytes of one block (all heads), alignment padding included.
  KVC_HOST_DEVICE constexpr std::size_t block_bytes() const { return kv_heads * head_bytes(); }
  /// Code bytes of one block (payload, no padding).
  KVC_HOST_DEVICE constexpr std::size_t payload_bytes() const { return kv_heads * (key_code_bytes() + value_code_bytes()); }
  /// Scale and min bytes of one block.
  KVC_HOST_DEVICE constexpr std::size_t metadata_bytes() const { return kv_heads * 2 * 2 * (key_params() + value_params()); }

  // ---- element positions ----------------------------------------------------------------------
  /// Key code of block token t, channel c, inside one head's key codes.
  KVC_HOST_DEVICE constexpr code_slot key_slot(std::size_t t, std::size_t c) const {
    const std::size_t row = key_row_bytes();
    return {c * row + t % row, unsigned(t / row) * unsigned(key_bits)};
  }
  /// Value code of block token t, channel c, inside one head's value codes.
  KVC_HOST_DEVICE constexpr code_slot value_slot(std::size_t t, std::size_t c) const {
    const std::size_t row = value_row_bytes();
    return {t * row + c % row, unsigned(c / row) * unsigned(value_bits)};
  }

  /// Throws kvc::error naming the offending option.
  void validate() const {
    check_bits(key_bits, "k (key bits)");
    check_bits(value_bits, "v (value bits)");
    detail::require(group >= 8 && group % 8 == 0, "group must be a positive multiple of 8, got ", group);
    detail::require(head_dim > 0 && head_dim % group == 0, "group (", group,
                    ") must divide head_dim (", head_dim, ")");
    detail::require(kv_heads > 0, "kv_heads must be positive, got ", kv_heads);
  }
};

static_assert(sizeof(f16) == 2, "scales and mins are stored as 2-byte f16");
// Qwen3-8B layer, 2-bit K/V, G = 64: 16 bytes per key channel row, 32 per value token row,
// 2.5 bits per element with scales and mins.
static_assert(block_layout{2, 2, 64, 128, 8}.key_row_bytes() == 16);
static_assert(block_layout{2, 2, 64, 128, 8}.value_row_bytes() == 32);
static_assert(block_layout{2, 2, 64, 128, 8}.payload_bytes() == 8 * 2 * 64 * 128 * 2 / 8);
static_assert(block_layout{2, 2, 64, 128, 8}.metadata_bytes() == 8 * 2 * 2 * (128 + 64 * 2));
static_assert(block_layout{2, 2, 64, 128, 8}.block_bytes() ==
              block_layout{2, 2, 64, 128, 8}.payload_bytes() + block_layout{2, 2, 64, 128, 8}.metadata_bytes());
static_assert(block_layout{1, 1, 64, 128, 8}.key_slot(63, 1).byte == 8 + 7 &&
              block_layout{1, 1, 64, 128, 8}.key_slot(63, 1).shift == 7);

}  // namespace kvc::quant
