// Fast codecs: the same codes as codec_ref.hpp, bit for bit, from loops over contiguous
// channels/tokens that compilers vectorise (the packing is lane-interleaved for that reason).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "kvc/detail/convert_row.hpp"
#include "kvc/quant/group_params.hpp"
#include "kvc/quant/layout.hpp"

namespace kvc::quant {

namespace detail {

/// Per-thread scratch of the fast codecs.
struct codec_scratch {
  std::vector<float> lo, hi, scale, min;
  std::vector<std::uint8_t> tile;
  void fit(std::size_t dim, std::size_t tile_bytes) {
    if (lo.size() < dim) lo.resize(dim), hi.resize(dim), scale.resize(dim), min.resize(dim);
    if (tile.size() < tile_bytes) tile.resize(tile_bytes);
  }
};
inline codec_scratch& scratch() {
  thread_local codec_scratch s;
  return s;
}

template <int B>
void encode_key_block(const float* x, const block_layout& L, std::uint8_t* codes, f16* scales, f16* mins) {
  const std::size_t G = L.group, D = L.head_dim, row = L.key_row_bytes();
  constexpr float maxq = float(max_code(B));
  auto& s = scratch();
  s.fit(D, G * D);
  float* lo = s.lo.data();
  float* hi = s.hi.data();
  std::fill(lo, lo + D, std::numeric_limits<float>::infinity());
  std::fill(hi, hi + D, -std::numeric_limits<float>::infinity());
  for (std::size_t t = 0; t < G; ++t) {
    const float* xt = x + t * D;
#pragma omp simd
    for (std::size_t c = 0; c < D; ++c) {
      lo[c] = std::min(lo[c], xt[c]);
      hi[c] = std::max(hi[c], xt[c]);
    }
  }
  for (std::size_t c = 0; c < D; ++c) {
    const group_params p = make_group_params(lo[c], hi[c], B);
    scales[c] = p.scale;
    mins[c] = p.min;
    s.scale[c] = to_float(p.scale);
    s.min[c] = to_float(p.min);
  }
  // codes of all tokens, token-major [G][D], then packed channel-major
  std::uint8_t* tile = s.tile.data();
  const float* sc = s.scale.data();
  const float* mn = s.min.data();
  for (std::size_t t = 0; t < G; ++t) {
    const float* xt = x + t * D;
    std::uint8_t* qt = tile + t * D;
#pragma omp simd
    for (std::size_t c = 0; c < D; ++c) qt[c] = std::uint8_t(quant_code(xt[c], mn[c], sc[c], maxq));
  }
  for (std::size_t c = 0; c < D; ++c) {
    std::uint8_t* out = codes + c * row;
    for (std::size_t i = 0; i < row; ++i) {
      std::uint32_t byte = 0;
      for (std::size_t j = 0; j < codes_per_byte(B); ++j) byte |= std::uint32_t(tile[(j * row + i) * D + c]) << (j * B);
      out[i] = std::uint8_t(byte);
    }
  }
}

template <int B>
void decode_key_block(const std::uint8_t* codes, const f16* scales, const f16* mins, const block_layout& L,
                      float* out) {
  const std::size_t D = L.head_dim, row = L.key_row_bytes();
  auto& s = scratch();
  s.fit(D, 0);
  kvc::detail::to_f32_row(scales, s.scale.data(), D);
  kvc::detail::to_f32_row(mins, s.min.data(), D);
  for (std::size_t c = 0; c < D; ++c) {
    const std::uint8_t* in = codes + c * row;
    const float sc = s.scale[c], mn = s.min[c];
    for (std::size_t j = 0; j < codes_per_byte(B); ++j) {
      float* o = out + j * row * D + c;
#pragma omp simd
      for (std::size_t i = 0; i < row; ++i)
        o[i * D] = dequant((std::uint32_t(in[i]) >> (j * B)) & max_code(B), sc, mn);
    }
  }
}

template <int B>
void encode_value_rows(const float* x, std::size_t tokens, const block_layout& L, std::uint8_t* codes,
                       f16* scales, f16* mins) {
  const std::size_t G = L.group, D = L.head_dim, ng = L.value_groups(), row = L.value_row_bytes();
  constexpr float maxq = float(max_code(B));
  auto& s = scratch();
  s.fit(D, 0);
  float* sc = s.scale.data();
  float* mn = s.min.data();
  for (std::size_t t = 0; t < tokens; ++t) {
    const float* xt = x + t * D;
    for (std::size_t g = 0; g < ng; ++g) {
      float lo = std::numeric_limits<float>::infinity(), hi = -lo;
#pragma omp simd reduction(min : lo) reduction(max : hi)
      for (std::size_t i = 0; i < G; ++i) {
        lo = std::min(lo, xt[g * G + i]);
        hi = std::max(hi, xt[g * G + i]);
      }
      const group_params p = make_group_params(lo, hi, B);
      scales[t * ng + g] = p.scale;
      mins[t * ng + g] = p.min;
      std::fill(sc + g * G, sc + (g + 1) * G, to_float(p.scale));
      std::fill(mn + g * G, mn + (g + 1) * G, to_float(p.min));
    }
    std::uint8_t* out = codes + t * row;
#pragma omp simd
    for (std::size_t i = 0; i < row; ++i) {
      std::uint32_t byte = 0;
      for (std::size_t j = 0; j < codes_per_byte(B); ++j) {
        const std::size_t c = j * row + i;
        byte |= quant_code(xt[c], mn[c], sc[c], maxq) << (j * B);
      }
      out[i] = std::uint8_t(byte);
    }
  }
}

template <int B>
void decode_value_rows(const std::uint8_t* codes, const f16* scales, const f16* mins, std::size_t tokens,
                       const block_layout& L, float* out) {
  const std::size_t G = L.group, D = L.head_dim, ng = L.value_groups(), row = L.value_row_bytes();
  auto& s = scratch();
  s.fit(D, 0);
  float* sc = s.scale.data();
  float* mn = s.min.data();
  for (std::size_t t = 0; t < tokens; ++t) {
    for (std::size_t g = 0; g < ng; ++g) {
      std::fill(sc + g * G, sc + (g + 1) * G, to_float(scales[t * ng + g]));
      std::fill(mn + g * G, mn + (g + 1) * G, to_float(mins[t * ng + g]));
    }
    const std::uint8_t* in = codes + t * row;
    float* o = out + t * D;
    for (std::size_t j = 0; j < codes_per_byte(B); ++j) {
#pragma omp simd
      for (std::size_t i = 0; i < row; ++i) {
        const std::size_t c = j * row + i;
        o[c] = dequant((std::uint32_t(in[i]) >> (j * B)) & max_code(B), sc[c], mn[c]);
      }
    }
  }
}

}  // namespace detail

/// Fast twin of encode_key_block_ref (same codes, scales and mins, bit for bit).
/// x `[group, head_dim]` f32.
inline void encode_key_block(const float* x, const block_layout& L, std::uint8_t* codes, f16* scales, f16* mins) {
  visit_bits(L.key_bits, [&](auto b) { detail::encode_key_block<b()>(x, L, codes, scales, mins); });
}
/// Fast twin of decode_key_block_ref; out `[group, head_dim]` f32.
inline void decode_key_block(const std::uint8_t* codes, const f16* scales, const f16* mins,
                             const block_layout& L, float* out) {
  visit_bits(L.key_bits, [&](auto b) { detail::decode_key_block<b()>(codes, scales, mins, L, out); });
}
/// Fast twin of encode_value_rows_ref. x `[tokens, head_dim]` f32.
inline void encode_value_rows(const float* x, std::size_t tokens, const block_layout& L, std::uint8_t* codes,
                              f16* scales, f16* mins) {
  visit_bits(L.value_bits, [&](auto b) { detail::encode_value_rows<b()>(x, tokens, L, codes, scales, mins); });
}
/// Fast twin of decode_value_rows_ref; out `[tokens, head_dim]` f32.
inline void decode_value_rows(const std::uint8_t* codes, const f16* scales, const f16* mins, std::size_t tokens,
                              const block_layout& L, float* out) {
  visit_bits(L.value_bits, [&](auto b) { detail::decode_value_rows<b()>(codes, scales, mins, tokens, L, out); });
}

}  // namespace kvc::quant
