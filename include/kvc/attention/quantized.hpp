// Decode attention on packed quantized blocks (CPU): unpack, dequantize and dot inside the
// kernel, online softmax per block, threads over (KV head, query rows, block ranges) merged
// through softmax_state. No dequantized copy of the cache is ever made.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include <omp.h>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

// GCC 12 reports a false "maybe uninitialized" inside the AVX-512 headers (as in convert_row.hpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kvc/attention/softmax_state.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/detail/convert_row.hpp"
#include "kvc/detail/simd.hpp"
#include "kvc/detail/softmax_block.hpp"
#include "kvc/quant/block_span.hpp"
#include "kvc/quant/layout.hpp"

namespace kvc {

namespace detail {

// W-lane vectors (GCC/Clang vector extensions): register-resident accumulators that lower to
// AVX-512, AVX2 or SSE depending on the build flags.
template <int W>
struct lanes {
  typedef float f __attribute__((vector_size(4 * W)));
  typedef std::int32_t u __attribute__((vector_size(4 * W)));  // codes <= 255: signed converts map to one instruction
  typedef std::uint8_t b __attribute__((vector_size(W)));
};

/// W consecutive bytes at p widened to 32-bit lanes.
/// (GCC 12 scalarises __builtin_convertvector from bytes, so the widening load uses the
/// AVX-512 / AVX2 instruction where the build has it, and an element loop otherwise.)
/// (An out-parameter rather than a return value: returning a wide vector from a function is an
/// ABI question in builds without AVX, which GCC warns about.)
template <int W>
inline void load_bytes(const std::uint8_t* p, typename lanes<W>::u& u) {
#if defined(__AVX512F__)
  if constexpr (W == 16) {
    const __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    std::memcpy(&u, &x, sizeof(u));
  } else
#endif
#if defined(__AVX2__)
  if constexpr (W == 8) {
    const __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    std::memcpy(&u, &x, sizeof(u));
  } else
#endif
  {
    for (int w = 0; w < W; ++w) u[w] = p[w];
  }
}

/// Slots (codes per byte) handled per pass, so that JP * NG accumulators stay in registers
/// beside the widened codes and the broadcast weights: a power of two dividing 8 / B, <= 4.
template <int B, int NG>
inline constexpr int slots_per_pass = [] {
  int jp = 8 / B < 4 ? 8 / B : 4;
  while (jp > 1 && jp * NG > int(kvc::detail::simd::registers) - 6) jp /= 2;
  return jp;
}();

/// s [NG, G] = qk [NG, head_dim] · codes of one head's key block + bias [NG].
/// qk already holds q * scale per channel, bias = Σ q * min, so the loop is code-weighted sums.
/// Each byte is widened once; slot j is masked in place (code * 2^(jB)) and the power of two
/// is taken out of the sums at the end (exact).
template <int B, int NG, int W>
void key_scores(const std::uint8_t* codes, std::size_t dim, std::size_t row, const float* qk,
                const float* bias, float* s, std::size_t G) {
  using F = typename lanes<W>::f;
  constexpr int JP = slots_per_pass<B, NG>;
  for (int j0 = 0; j0 < 8 / B; j0 += JP)
    for (std::size_t i0 = 0; i0 < row; i0 += W) {
      F acc[JP][NG] = {};
      const std::uint8_t* p = codes + i0;
      for (std::size_t c = 0; c < dim; ++c, p += row) {
        typename lanes<W>::u u;
        load_bytes<W>(p, u);
        for (int j = 0; j < JP; ++j) {
          const F code = __builtin_convertvector(u & int(quant::max_code(B) << ((j0 + j) * B)), F);
          for (int g = 0; g < NG; ++g) acc[j][g] += qk[g * dim + c] * code;
        }
      }
      for (int j = 0; j < JP; ++j) {
        const float unit = 1.0f / float(1u << ((j0 + j) * B));
        for (int g = 0; g < NG; ++g) {
          const F r = acc[j][g] * unit + bias[g];
          std::memcpy(s + g * G + (j0 + j) * row + i0, &r, sizeof(F));
        }
      }
    }
}

/// Scalar fallback of key_scores for rows narrower than 8 bytes.
template <int B, int NG>
void key_scores_ref(const std::uint8_t* codes, std::size_t dim, std::size_t row, const float* qk,
                    const float* bias, float* s, std::size_t G) {
  for (int g = 0; g < NG; ++g)
    for (std::size_t t = 0; t < G; ++t) s[g * G + t] = bias[g];
  for (std::size_t c = 0; c < dim; ++c)
    for (std::size_t t = 0; t < G; ++t) {
      const float code = float((codes[c * row + t % row] >> ((t / row) * B)) & quant::max_code(B));
      for (int g = 0; g < NG; ++g) s[g * G + t] += qk[g * dim + c] * code;
    }
}

/// acc [NG, head_dim] += Σ_t pw[g, channel group, t] * code(t, c) over one head's value rows
/// (tokens = G); pw = p * value scale (the mins are added separately as Σ p * min per group).
/// Bytes are widened once per token for all slots handled in a pass, as in key_scores.
template <int B, int NG, int W>
void value_accumulate(const std::uint8_t* codes, std::size_t row, std::size_t dim, std::size_t G,
                      std::size_t ng, const float* pw, std::size_t tokens, float* acc) {
  using F = typename lanes<W>::f;
  constexpr int JP = slots_per_pass<B, NG>;
  for (int j0 = 0; j0 < 8 / B; j0 += JP)
    for (std::size_t i0 = 0; i0 < row; i0 += W) {
      const float* w[JP];
      for (int j = 0; j < JP; ++j) w[j] = pw + (((j0 + j) * row + i0) / G) * G;
      F a[JP][NG] = {};
      const std::uint8_t* p = codes + i0;
      for (std::size_t t = 0; t < tokens; ++t, p += row) {
        typename lanes<W>::u u;
        load_bytes<W>(p, u);
        for (int j = 0; j < JP; ++j) {
          const F code = __builtin_convertvector(u & int(quant::max_code(B) << ((j0 + j) * B)), F);
          for (int g = 0; g < NG; ++g) a[j][g] += w[j][g * ng * G + t] * code;
        }
      }
      for (int j = 0; j < JP; ++j) {
        const float unit = 1.0f / float(1u << ((j0 + j) * B));
        float* out = acc + (j0 + j) * row + i0;
        for (int g = 0; g < NG; ++g) {
          F r;
          std::memcpy(&r, out + g * dim, sizeof(F));
          r += a[j][g] * unit;
          std::memcpy(out + g * dim, &r, sizeof(F));
        }
      }
    }
}

/// Scalar fallback of value_accumulate.
template <int B, int NG>
void value_accumulate_ref(const std::uint8_t* codes, std::size_t row, std::size_t dim, std::size_t G,
                          std::size_t ng, const float* pw, std::size_t tokens, float* acc) {
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t c = 0; c < dim; ++c) {
      const float code = float((codes[t * row + c % row] >> ((c / row) * B)) & quant::max_code(B));
      for (int g = 0; g < NG; ++g) acc[g * dim + c] += pw[(g * ng + c / G) * G + t] * code;
    }
}

using key_fn = void (*)(const std::uint8_t*, std::size_t, std::size_t, const float*, const float*, float*,
                        std::size_t);
using value_fn = void (*)(const std::uint8_t*, std::size_t, std::size_t, std::size_t, std::size_t,
                          const float*, std::size_t, float*);

/// Lanes of the kernels' vectors: the native width, 8 where the build has no wide vectors (the
/// byte loads below widen 8 or 16 bytes at once).
inline constexpr int packed_lanes = simd::width >= 8 ? int(simd::width) : 8;

template <int NG>
key_fn pick_key(const quant::block_layout& L) {
  const std::size_t row = L.key_row_bytes();
  return quant::visit_bits(L.key_bits, [&](auto b) -> key_fn {
    if (row % packed_lanes == 0) return &key_scores<b(), NG, packed_lanes>;
    return &key_scores_ref<b(), NG>;
  });
}
template <int NG>
value_fn pick_value(const quant::block_layout& L) {
  const std::size_t row = L.value_row_bytes();
  return quant::visit_bits(L.value_bits, [&](auto b) -> value_fn {
    if (row % packed_lanes == 0 && L.group % packed_lanes == 0) return &value_accumulate<b(), NG, packed_lanes>;
    return &value_accumulate_ref<b(), NG>;
  });
}

/// Per-thread scratch of the quantized kernel.
struct quant_scratch {
  std::vector<float> qk, bias, s, pw, vbias, ks, km, vs, vm, vwide;  // vwide: value scales, mins as read
  void fit(const quant::block_layout& L) {
    const std::size_t D = L.head_dim, G = L.group, ng = L.value_groups();
    qk.resize(4 * D), bias.resize(4), s.resize(4 * G), pw.resize(G * 4 * ng), vbias.resize(4 * ng);
    ks.resize(D), km.resize(D), vs.resize(G * ng), vm.resize(G * ng), vwide.resize(2 * G * ng);
  }
};

/// Online-softmax update of NG query rows q[g] [head_dim] (scaled) of KV head h against
/// blocks [b0, b1); m, l [NG] and acc [NG, head_dim] are updated in place.
template <int NG>
void attend_blocks(const quant::block_span& bs, std::size_t h, const float* const* q, std::size_t b0, std::size_t b1,
                   float* m, float* l, float* acc) {
  const quant::block_layout& L = *bs.layout;
  const std::size_t D = L.head_dim, G = L.group, ng = L.value_groups();
  thread_local quant_scratch sc;
  sc.fit(L);
  const key_fn score_keys = pick_key<NG>(L);
  const value_fn accumulate_values = pick_value<NG>(L);
  float* qk = sc.qk.data();
  float* s = sc.s.data();
  float* pw = sc.pw.data();
  for (std::size_t b = b0; b < b1; ++b) {
    const std::uint8_t* blk = bs.slice(b, h);
    // the next block's bytes are on their way while this one is computed
    if (b + 1 < b1) kvc::detail::simd::prefetch(bs.slice(b + 1, h), L.head_bytes());
    // keys: per-channel scale folded into the query, mins into one bias per row
    kvc::detail::to_f32_row(reinterpret_cast<const f16*>(blk + L.key_scales_off()), sc.ks.data(), D);
    kvc::detail::to_f32_row(reinterpret_cast<const f16*>(blk + L.key_mins_off()), sc.km.data(), D);
    const float* ks = sc.ks.data();
    const float* km = sc.km.data();
    for (int g = 0; g < NG; ++g) {
      const float* qg = q[g];
      float* qkg = qk + g * D;
      float bias = 0.0f;
#pragma omp simd reduction(+ : bias)
      for (std::size_t c = 0; c < D; ++c) {
        qkg[c] = qg[c] * ks[c];
        bias += qg[c] * km[c];
      }
      sc.bias[g] = bias;
    }
    score_keys(blk + L.key_codes_off(), D, L.key_row_bytes(), qk, sc.bias.data(), s, G);
    // online softmax over the block's G scores
    for (int g = 0; g < NG; ++g) kvc::detail::softmax_block(s + g * G, G, m[g], l[g], acc + g * D, D);
    // values: p * scale per (token, channel group) weights the codes; Σ p * min per group.
    // Scales and mins are read transposed to [group][token] so these loops run over tokens.
    const f16* vsc = reinterpret_cast<const f16*>(blk + L.value_scales_off());
    const f16* vmn = reinterpret_cast<const f16*>(blk + L.value_mins_off());
    kvc::detail::to_f32_row(vsc, sc.vwide.data(), G * ng);
    kvc::detail::to_f32_row(vmn, sc.vwide.data() + G * ng, G * ng);
    for (std::size_t t = 0; t < G; ++t)
      for (std::size_t k = 0; k < ng; ++k) {
        sc.vs[k * G + t] = sc.vwide[t * ng + k];
        sc.vm[k * G + t] = sc.vwide[G * ng + t * ng + k];
      }
    for (int g = 0; g < NG; ++g)
      for (std::size_t k = 0; k < ng; ++k) {
        const float* sg = s + g * G;
        const float* vs = sc.vs.data() + k * G;
        const float* vm = sc.vm.data() + k * G;
        float* w = pw + (g * ng + k) * G;
        float vb = 0.0f;
#pragma omp simd reduction(+ : vb)
        for (std::size_t t = 0; t < G; ++t) {
          w[t] = sg[t] * vs[t];
          vb += sg[t] * vm[t];
        }
        sc.vbias[g * ng + k] = vb;
      }
    accumulate_values(blk + L.value_codes_off(), L.value_row_bytes(), D, G, ng, pw, G, acc);
    for (int g = 0; g < NG; ++g)
      for (std::size_t k = 0; k < ng; ++k) {
        const float vb = sc.vbias[g * ng + k];
        float* a = acc + g * D + k * G;
#pragma omp simd
        for (std::size_t i = 0; i < G; ++i) a[i] += vb;
      }
  }
}

}  // namespace detail

/// Attention of n queries over every quantized block (all earlier than the queries), merged
/// into `state` (rows i * q_heads + h). qs `[n, q_heads, head_dim]` f32, multiplied by the
/// softmax scale and, when the keys were rotated before quantization, rotated the same way.
/// Threads: OpenMP over (KV head, chunks of 4 query rows, block ranges), partials merged.
inline void attend_quantized(const float* qs, std::size_t n, const layer_shape& shape, const quant::block_span& bs,
                             softmax_state& state) {
  if (n == 0 || bs.count == 0) return;
  const std::size_t group = std::size_t(shape.group()), D = std::size_t(shape.head_dim);
  const std::size_t kv_heads = std::size_t(shape.kv_heads), q_heads = std::size_t(shape.q_heads);
  constexpr std::size_t rows_per_item = 4;
  const std::size_t rows = n * group;  // per KV head: (query i, group member g)
  const std::size_t row_chunks = (rows + rows_per_item - 1) / rows_per_item;
  const std::size_t threads = std::size_t(omp_get_max_threads());
  const std::size_t want = 4 * threads;
  const std::size_t ranges = std::min(bs.count, std::max<std::size_t>(1, (want + kv_heads * row_chunks - 1) /
                                                                               (kv_heads * row_chunks)));
  const std::size_t items = kv_heads * row_chunks * ranges;
  auto state_row = [&](std::size_t h, std::size_t r) { return (r / group) * q_heads + h * group + r % group; };
  auto run = [&](std::size_t it, float* m, float* l, float* a) {
    const std::size_t h = it % kv_heads;
    const std::size_t rc = (it / kv_heads) % row_chunks;
    const std::size_t rg = it / (kv_heads * row_chunks);
    const std::size_t b0 = bs.count * rg / ranges, b1 = bs.count * (rg + 1) / ranges;
    const std::size_t r0 = rc * rows_per_item, nr = std::min(rows_per_item, rows - r0);
    const float* q[rows_per_item];
    for (std::size_t r = 0; r < nr; ++r) q[r] = qs + state_row(h, r0 + r) * D;
    switch (nr) {
      case 1: detail::attend_blocks<1>(bs, h, q, b0, b1, m, l, a); break;
      case 2: detail::attend_blocks<2>(bs, h, q, b0, b1, m, l, a); break;
      case 3: detail::attend_blocks<3>(bs, h, q, b0, b1, m, l, a); break;
      default: detail::attend_blocks<4>(bs, h, q, b0, b1, m, l, a); break;
    }
    return std::pair{h, r0};
  };
  if (ranges == 1) {
    // Many query rows (prefill chunks): each state row belongs to exactly one item, so items
    // merge straight into the state, with no partial buffers the size of the chunk.
#pragma omp parallel
    {
      float m[rows_per_item], l[rows_per_item];
      std::vector<float> a(rows_per_item * D);
#pragma omp for schedule(dynamic, 1)
      for (std::size_t it = 0; it < items; ++it) {
        std::fill_n(m, rows_per_item, -std::numeric_limits<float>::infinity());
        std::fill_n(l, rows_per_item, 0.0f);
        std::fill(a.begin(), a.end(), 0.0f);
        const auto [h, r0] = run(it, m, l, a.data());
        for (std::size_t r = 0; r < std::min(rows_per_item, rows - r0); ++r)
          state.merge(state_row(h, r0 + r), m[r], l[r], &a[r * D]);
      }
    }
    return;
  }
  std::vector<float> pm(items * rows_per_item, -std::numeric_limits<float>::infinity());
  std::vector<float> pl(items * rows_per_item, 0.0f);
  std::vector<float> pacc(items * rows_per_item * D, 0.0f);
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t it = 0; it < items; ++it)
    run(it, &pm[it * rows_per_item], &pl[it * rows_per_item], &pacc[it * rows_per_item * D]);
  for (std::size_t it = 0; it < items; ++it) {
    const std::size_t h = it % kv_heads;
    const std::size_t r0 = ((it / kv_heads) % row_chunks) * rows_per_item;
    for (std::size_t r = 0; r < std::min(rows_per_item, rows - r0); ++r)
      state.merge(state_row(h, r0 + r), pm[it * rows_per_item + r], pl[it * rows_per_item + r],
                  &pacc[(it * rows_per_item + r) * D]);
  }
}

}  // namespace kvc

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
