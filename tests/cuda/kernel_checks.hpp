// Test bodies of the CUDA kernels, written once for any driver (the CPU block emulator, or a GPU):
// quantize/dequantize bit for bit against the *_ref codecs, decode attention against an f64 oracle.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kvc/core/dtype.hpp"
#include "kvc/cuda/kernels/decode_dense.hpp"
#include "kvc/cuda/kernels/decode_quant.hpp"
#include "kvc/cuda/kernels/dequantize_blocks.hpp"
#include "kvc/cuda/kernels/merge_partials.hpp"
#include "kvc/cuda/kernels/quantize_blocks.hpp"
#include "kvc/quant/codec_ref.hpp"
#include "support/random.hpp"

namespace kvc::test::kernel_checks {

namespace k = kvc::cuda::kernels;

/// |kernel - oracle| <= oracle_tolerance * (1 + |oracle|) per output element: the kernels
/// accumulate in f32 over up to 32k keys (the f32 rounding of the scores, the running sum and
/// the merge), the oracle in f64 over the same stored values.
inline constexpr double oracle_tolerance = 2e-5;

/// Keys with a few outlier channels (as real keys have), values plain normal: [rows, heads, dim].
inline std::vector<float> key_like(std::mt19937_64& rng, std::size_t rows, std::size_t heads, std::size_t dim) {
  auto x = random_values<float>(rng, rows * heads * dim);
  for (std::size_t i = 0; i < x.size(); ++i)
    if (i % dim % 37 == 5) x[i] = x[i] * 8.0f + 3.0f;
  return x;
}

/// f64 attention of one query token: q [q_heads, dim] over keys/values [n, kv_heads, dim].
inline std::vector<double> oracle(const std::vector<float>& q, const std::vector<float>& keys,
                                  const std::vector<float>& values, std::size_t n, int q_heads, int kv_heads, int dim,
                                  double scale) {
  const int group = q_heads / kv_heads;
  std::vector<double> out(std::size_t(q_heads) * std::size_t(dim), 0.0), s(n);
  for (int h = 0; h < q_heads; ++h) {
    const std::size_t kvh = std::size_t(h / group);
    double mx = -INFINITY;
    for (std::size_t t = 0; t < n; ++t) {
      double dot = 0;
      for (int d = 0; d < dim; ++d)
        dot += double(q[std::size_t(h * dim + d)]) * double(keys[(t * std::size_t(kv_heads) + kvh) * std::size_t(dim) + std::size_t(d)]);
      mx = std::max(mx, s[t] = dot * scale);
    }
    double sum = 0;
    for (std::size_t t = 0; t < n; ++t) sum += (s[t] = std::exp(s[t] - mx));
    for (std::size_t t = 0; t < n; ++t)
      for (int d = 0; d < dim; ++d)
        out[std::size_t(h * dim + d)] += s[t] / sum * double(values[(t * std::size_t(kv_heads) + kvh) * std::size_t(dim) + std::size_t(d)]);
  }
  return out;
}

/// Requires every element within oracle_tolerance; returns the largest |Δ| / (1 + |ref|).
inline double require_close(const std::vector<float>& got, const std::vector<double>& ref) {
  REQUIRE(got.size() == ref.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - ref[i]) / (1.0 + std::abs(ref[i]));
    INFO("element " << i << ": kernel " << got[i] << ", oracle " << ref[i]);
    REQUIRE(std::isfinite(got[i]));
    REQUIRE(err <= oracle_tolerance);
    worst = std::max(worst, err);
  }
  return worst;
}

/// The rows of `x` [rows, heads, dim] as T (what a cache of dtype T stores) and back as f32.
template <class T>
std::vector<T> as(const std::vector<float>& x) {
  std::vector<T> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = from_float<T>(x[i]);
  return out;
}
template <class T>
std::vector<float> widened(const std::vector<T>& x) {
  std::vector<float> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = to_float(x[i]);
  return out;
}

/// Packed blocks on the host, chunked as a cache stores them: [chunks][kv_heads][blocks_per_chunk][head_bytes].
struct host_blocks {
  quant::block_layout layout;
  std::size_t blocks_per_chunk = 1, blocks = 0;
  std::vector<std::vector<std::uint8_t>> chunks;

  host_blocks(const quant::block_layout& L, std::size_t bpc, std::size_t n) : layout(L), blocks_per_chunk(bpc), blocks(n) {
    const std::size_t count = (n + bpc - 1) / bpc;
    chunks.assign(count, std::vector<std::uint8_t>(L.kv_heads * bpc * L.head_bytes(), 0));
  }
  std::uint8_t* slice(std::size_t b, std::size_t h) {
    return chunks[b / blocks_per_chunk].data() + (h * blocks_per_chunk + b % blocks_per_chunk) * layout.head_bytes();
  }
  /// Encodes rows [0, blocks * G) of k, v [rows, kv_heads, dim] with the reference codecs.
  void encode_ref(const std::vector<float>& k, const std::vector<float>& v) {
    const std::size_t G = layout.group, D = layout.head_dim, H = layout.kv_heads;
    std::vector<float> xk(G * D), xv(G * D);
    for (std::size_t b = 0; b < blocks; ++b)
      for (std::size_t h = 0; h < H; ++h) {
        for (std::size_t t = 0; t < G; ++t)
          for (std::size_t c = 0; c < D; ++c) {
            xk[t * D + c] = k[((b * G + t) * H + h) * D + c];
            xv[t * D + c] = v[((b * G + t) * H + h) * D + c];
          }
        std::uint8_t* s = slice(b, h);
        quant::encode_key_block_ref(xk.data(), layout, s + layout.key_codes_off(), reinterpret_cast<f16*>(s + layout.key_scales_off()),
                                    reinterpret_cast<f16*>(s + layout.key_mins_off()));
        quant::encode_value_rows_ref(xv.data(), G, layout, s + layout.value_codes_off(),
                                     reinterpret_cast<f16*>(s + layout.value_scales_off()),
                                     reinterpret_cast<f16*>(s + layout.value_mins_off()));
      }
  }
  /// The stored form as f32 rows [blocks * G, kv_heads, dim] (decode_*_ref).
  void decode_ref(std::vector<float>& k, std::vector<float>& v) {
    const std::size_t G = layout.group, D = layout.head_dim, H = layout.kv_heads;
    k.assign(blocks * G * H * D, 0.0f);
    v.assign(k.size(), 0.0f);
    std::vector<float> xk(G * D), xv(G * D);
    for (std::size_t b = 0; b < blocks; ++b)
      for (std::size_t h = 0; h < H; ++h) {
        const std::uint8_t* s = slice(b, h);
        quant::decode_key_block_ref(s + layout.key_codes_off(), reinterpret_cast<const f16*>(s + layout.key_scales_off()),
                                    reinterpret_cast<const f16*>(s + layout.key_mins_off()), layout, xk.data());
        quant::decode_value_rows_ref(s + layout.value_codes_off(), reinterpret_cast<const f16*>(s + layout.value_scales_off()),
                                     reinterpret_cast<const f16*>(s + layout.value_mins_off()), G, layout, xv.data());
        for (std::size_t t = 0; t < G; ++t)
          for (std::size_t c = 0; c < D; ++c) {
            k[((b * G + t) * H + h) * D + c] = xk[t * D + c];
            v[((b * G + t) * H + h) * D + c] = xv[t * D + c];
          }
      }
  }
};

/// The driver's copy of host blocks: the chunks and the table of chunk pointers.
template <class Driver>
struct device_blocks {
  std::vector<std::uint8_t*> chunk_ptrs;
  std::uint8_t* const* table = nullptr;

  device_blocks(Driver& d, host_blocks& hb, bool copy) {
    for (auto& c : hb.chunks) chunk_ptrs.push_back(copy ? d.upload(c) : d.template alloc<std::uint8_t>(c.size()));
    table = chunk_ptrs.empty() ? nullptr : d.upload(chunk_ptrs);
  }
};

/// Quantizes `blocks` blocks of random T rows with the kernel; codes, scales and mins must equal
/// the reference codec's bit for bit (section by section; padding is not compared). Then the
/// dequantize kernel must return decode_*_ref's floats bit for bit.
template <class T, class Driver>
void check_quantize_roundtrip(Driver& d, std::mt19937_64& rng, const quant::block_layout& L, std::size_t blocks,
                              std::size_t blocks_per_chunk) {
  const std::size_t G = L.group, D = L.head_dim, H = L.kv_heads, rows = blocks * G;
  const auto k = as<T>(key_like(rng, rows, H, D));
  const auto v = as<T>(random_values<float>(rng, rows * H * D, 2.0f));
  host_blocks want(L, blocks_per_chunk, blocks);
  want.encode_ref(widened(k), widened(v));

  host_blocks got(L, blocks_per_chunk, blocks);
  device_blocks<Driver> dev(d, got, /*copy=*/false);
  k::quantize_blocks_params<T> p;
  p.k = d.upload(k);
  p.v = d.upload(v);
  p.row_stride = H * D;
  p.layout = L;
  p.chunks = dev.table;
  p.blocks_per_chunk = blocks_per_chunk;
  p.blocks = blocks;
  d.template run<k::quantize_blocks<T>>(p);
  for (std::size_t c = 0; c < got.chunks.size(); ++c) got.chunks[c] = d.download(dev.chunk_ptrs[c], got.chunks[c].size());

  struct section { const char* name; std::size_t off, bytes; };
  const section sections[] = {{"key codes", L.key_codes_off(), L.key_code_bytes()},
                              {"key scales", L.key_scales_off(), 2 * L.key_params()},
                              {"key mins", L.key_mins_off(), 2 * L.key_params()},
                              {"value codes", L.value_codes_off(), L.value_code_bytes()},
                              {"value scales", L.value_scales_off(), 2 * L.value_params()},
                              {"value mins", L.value_mins_off(), 2 * L.value_params()}};
  for (std::size_t b = 0; b < blocks; ++b)
    for (std::size_t h = 0; h < H; ++h)
      for (const section& s : sections) {
        INFO("block " << b << ", head " << h << ": " << s.name);
        REQUIRE(std::memcmp(got.slice(b, h) + s.off, want.slice(b, h) + s.off, s.bytes) == 0);
      }

  // dequantize the reference blocks
  device_blocks<Driver> src(d, want, /*copy=*/true);
  k::dequantize_blocks_params dq;
  dq.layout = L;
  dq.chunks = src.table;
  dq.blocks_per_chunk = blocks_per_chunk;
  dq.blocks = blocks;
  dq.row_stride = H * D;
  dq.k_out = d.template alloc<float>(rows * H * D);
  dq.v_out = d.template alloc<float>(rows * H * D);
  d.template run<k::dequantize_blocks>(dq);
  std::vector<float> ref_k, ref_v;
  want.decode_ref(ref_k, ref_v);
  const auto got_k = d.download(dq.k_out, rows * H * D), got_v = d.download(dq.v_out, rows * H * D);
  REQUIRE(std::memcmp(got_k.data(), ref_k.data(), got_k.size() * sizeof(float)) == 0);
  REQUIRE(std::memcmp(got_v.data(), ref_v.data(), got_v.size() * sizeof(float)) == 0);
}

/// The shape of one decode check.
struct decode_shape {
  int q_heads = 8, kv_heads = 2, head_dim = 128;
};

/// Runs merge_partials over `ws` and returns out [q_heads, head_dim].
template <class Driver>
std::vector<float> merged(Driver& d, const k::partials& ws, int q_heads) {
  k::merge_partials_params mp;
  mp.in = ws;
  mp.q_heads = q_heads;
  mp.out = d.template alloc<float>(std::size_t(q_heads) * std::size_t(ws.head_dim));
  d.template run<k::merge_partials>(mp);
  return d.download(mp.out, std::size_t(q_heads) * std::size_t(ws.head_dim));
}

/// Dense decode over `tokens` rows of T (gathered through a row list when `gather`) split into
/// chunks of `chunk` tokens, merged, against the f64 oracle over the same stored rows.
template <class T, class Driver>
double check_decode_dense(Driver& d, std::mt19937_64& rng, decode_shape s, std::size_t tokens, std::size_t chunk,
                          bool gather = false) {
  const std::size_t H = std::size_t(s.kv_heads), D = std::size_t(s.head_dim);
  const std::size_t stored = gather ? 2 * tokens + 3 : tokens;
  const auto k = as<T>(key_like(rng, stored, H, D));
  const auto v = as<T>(random_values<float>(rng, stored * H * D));
  const auto q = random_values<float>(rng, std::size_t(s.q_heads) * D);
  std::vector<std::uint32_t> rows(stored);
  std::iota(rows.begin(), rows.end(), 0u);
  if (gather) std::shuffle(rows.begin(), rows.end(), rng);
  rows.resize(tokens);
  std::vector<float> keys(tokens * H * D), values(keys.size());  // the attended rows, in order
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t i = 0; i < H * D; ++i) {
      keys[t * H * D + i] = to_float(k[rows[t] * H * D + i]);
      values[t * H * D + i] = to_float(v[rows[t] * H * D + i]);
    }
  const double scale = 1.0 / std::sqrt(double(D));

  k::decode_dense_params<T> p;
  p.q = d.upload(q);
  p.k = d.upload(k);
  p.v = d.upload(v);
  p.rows = gather ? d.upload(rows) : nullptr;
  p.row_stride = H * D;
  p.tokens = tokens;
  p.chunk_tokens = chunk;
  p.q_heads = s.q_heads;
  p.kv_heads = s.kv_heads;
  p.head_dim = s.head_dim;
  p.scale = float(scale);
  const int slots = int(p.chunks());
  p.out = k::partials::in(d.template alloc<float>(k::partials::floats(s.q_heads, slots, s.head_dim)), s.q_heads, slots, s.head_dim);
  d.template run<k::decode_dense<T>>(p);
  const auto got = merged(d, p.out, s.q_heads);
  if (tokens == 0) {
    for (float x : got) REQUIRE(x == 0.0f);  // no keys: zeros, not NaN
    return 0;
  }
  return require_close(got, oracle(q, keys, values, tokens, s.q_heads, s.kv_heads, s.head_dim, scale));
}

/// Packed-block decode: `blocks` blocks of layout L (split into chunks of `chunk_blocks`) plus
/// `residual` f32 rows attended by decode_dense into the same partials, merged, against the f64
/// oracle over the stored form (the blocks as decode_*_ref returns them, then the residual rows).
template <class Driver>
double check_decode_quant(Driver& d, std::mt19937_64& rng, const quant::block_layout& L, int q_heads, std::size_t blocks,
                          std::size_t chunk_blocks, std::size_t residual, std::size_t blocks_per_chunk = 4) {
  const std::size_t G = L.group, D = L.head_dim, H = L.kv_heads, packed = blocks * G, n = packed + residual;
  const auto k = key_like(rng, n, H, D);
  const auto v = random_values<float>(rng, n * H * D);
  const auto q = random_values<float>(rng, std::size_t(q_heads) * D);
  host_blocks hb(L, blocks_per_chunk, blocks);
  hb.encode_ref(k, v);
  std::vector<float> keys, values;
  hb.decode_ref(keys, values);
  keys.insert(keys.end(), k.begin() + std::ptrdiff_t(packed * H * D), k.end());
  values.insert(values.end(), v.begin() + std::ptrdiff_t(packed * H * D), v.end());
  const double scale = 1.0 / std::sqrt(double(D));

  device_blocks<Driver> dev(d, hb, /*copy=*/true);
  k::decode_quant_params p;
  p.q = d.upload(q);
  p.layout = L;
  p.chunks = dev.table;
  p.blocks_per_chunk = blocks_per_chunk;
  p.blocks = blocks;
  p.chunk_blocks = chunk_blocks;
  p.q_heads = q_heads;
  p.scale = float(scale);
  k::decode_dense_params<float> r;  // the residual rows
  const std::vector<float> window(k.begin() + std::ptrdiff_t(packed * H * D), k.end());
  const std::vector<float> window_v(v.begin() + std::ptrdiff_t(packed * H * D), v.end());
  r.q = p.q;
  r.k = d.upload(window);
  r.v = d.upload(window_v);
  r.row_stride = H * D;
  r.tokens = residual;
  r.chunk_tokens = 96;
  r.q_heads = q_heads;
  r.kv_heads = int(H);
  r.head_dim = int(D);
  r.scale = p.scale;
  const int slots = int(p.chunks_count()) + int(r.chunks());
  const k::partials ws = k::partials::in(d.template alloc<float>(k::partials::floats(q_heads, slots, int(D))), q_heads, slots, int(D));
  p.out = r.out = ws;
  r.first_slot = int(p.chunks_count());
  d.template run<k::decode_quant>(p);
  d.template run<k::decode_dense<float>>(r);
  const auto got = merged(d, ws, q_heads);
  if (n == 0) {
    for (float x : got) REQUIRE(x == 0.0f);
    return 0;
  }
  return require_close(got, oracle(q, keys, values, n, q_heads, int(H), int(D), scale));
}

}  // namespace kvc::test::kernel_checks
