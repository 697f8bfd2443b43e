// Scalar reference codecs (the oracle): one block of keys per channel, value rows per token,
// element by element through block_layout's slot functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "kvc/quant/group_params.hpp"
#include "kvc/quant/layout.hpp"

namespace kvc::quant {

/// Quantizes the keys of one head of one block, per channel over the block's G tokens.
/// x `[group, head_dim]` f32 (token-major rows); writes codes [key_code_bytes()], scales and
/// mins `[head_dim]`.
inline void encode_key_block_ref(const float* x, const block_layout& L, std::uint8_t* codes,
                                 f16* scales, f16* mins) {
  const std::size_t G = L.group, D = L.head_dim;
  const float maxq = float(max_code(L.key_bits));
  std::fill(codes, codes + L.key_code_bytes(), std::uint8_t(0));
  for (std::size_t c = 0; c < D; ++c) {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (std::size_t t = 0; t < G; ++t) {
      lo = std::min(lo, x[t * D + c]);
      hi = std::max(hi, x[t * D + c]);
    }
    const group_params p = make_group_params(lo, hi, L.key_bits);
    scales[c] = p.scale;
    mins[c] = p.min;
    for (std::size_t t = 0; t < G; ++t) {
      const std::uint32_t q = quant_code(x[t * D + c], to_float(p.min), to_float(p.scale), maxq);
      const code_slot s = L.key_slot(t, c);
      codes[s.byte] = std::uint8_t(codes[s.byte] | (q << s.shift));
    }
  }
}

/// Decodes one head's key block to out `[group, head_dim]` f32.
inline void decode_key_block_ref(const std::uint8_t* codes, const f16* scales, const f16* mins,
                                 const block_layout& L, float* out) {
  const std::uint32_t mask = max_code(L.key_bits);
  for (std::size_t t = 0; t < L.group; ++t)
    for (std::size_t c = 0; c < L.head_dim; ++c) {
      const code_slot s = L.key_slot(t, c);
      out[t * L.head_dim + c] = dequant((codes[s.byte] >> s.shift) & mask, to_float(scales[c]), to_float(mins[c]));
    }
}

/// Quantizes `tokens` value rows of one head, per token over groups of G channels.
/// x `[tokens, head_dim]` f32; writes codes [tokens * value_row_bytes()], scales and mins
/// `[tokens, head_dim / group]`.
inline void encode_value_rows_ref(const float* x, std::size_t tokens, const block_layout& L,
                                  std::uint8_t* codes, f16* scales, f16* mins) {
  const std::size_t G = L.group, D = L.head_dim, ng = L.value_groups();
  const float maxq = float(max_code(L.value_bits));
  std::fill(codes, codes + tokens * L.value_row_bytes(), std::uint8_t(0));
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t g = 0; g < ng; ++g) {
      const float* xg = x + t * D + g * G;
      float lo = std::numeric_limits<float>::infinity(), hi = -lo;
      for (std::size_t i = 0; i < G; ++i) {
        lo = std::min(lo, xg[i]);
        hi = std::max(hi, xg[i]);
      }
      const group_params p = make_group_params(lo, hi, L.value_bits);
      scales[t * ng + g] = p.scale;
      mins[t * ng + g] = p.min;
      for (std::size_t i = 0; i < G; ++i) {
        const std::uint32_t q = quant_code(xg[i], to_float(p.min), to_float(p.scale), maxq);
        const code_slot s = L.value_slot(t, g * G + i);
        codes[s.byte] = std::uint8_t(codes[s.byte] | (q << s.shift));
      }
    }
}

/// Decodes `tokens` value rows of one head to out `[tokens, head_dim]` f32.
inline void decode_value_rows_ref(const std::uint8_t* codes, const f16* scales, const f16* mins,
                                  std::size_t tokens, const block_layout& L, float* out) {
  const std::uint32_t mask = max_code(L.value_bits);
  const std::size_t ng = L.value_groups();
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t c = 0; c < L.head_dim; ++c) {
      const code_slot s = L.value_slot(t, c);
      const std::size_t g = t * ng + c / L.group;
      out[t * L.head_dim + c] = dequant((codes[s.byte] >> s.shift) & mask, to_float(scales[g]), to_float(mins[g]));
    }
}

}  // namespace kvc::quant
