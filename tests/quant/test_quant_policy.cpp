// The quantized policy: every step (prefill, chunked prefill, decode across flushes, sinks,
// rotation) against the f64 oracle run on the dequantized cache, accounting, and bad specs.
#include <catch2/catch.hpp>

#include <random>
#include <span>
#include <string>
#include <vector>

#include "kvc/attention/reference.hpp"
#include "kvc/policy/quant.hpp"
#include "kvc/policy/registry.hpp"
#include "kvc/quant/codec_ref.hpp"
#include "support/compare.hpp"
#include "support/random.hpp"
#include "support/tolerances.hpp"

using namespace kvc;

namespace {

/// What the cache holds, as f32 `[size, kv_heads, head_dim]`: exact tokens as stored, quantized
/// blocks through the reference decoder (and the inverse rotation when keys were rotated).
template <class T>
void effective_kv(const quant_cache<T>& c, std::vector<float>& K, std::vector<float>& V) {
  const std::size_t H = std::size_t(c.shape().kv_heads), D = std::size_t(c.shape().head_dim);
  const auto& L = c.layout();
  K.assign(c.size() * H * D, 0.0f);
  V.assign(c.size() * H * D, 0.0f);
  for (const auto& seg : c.exact_segments())
    for (std::size_t t = 0; t < seg.tokens; ++t)
      for (std::size_t h = 0; h < H; ++h)
        for (std::size_t d = 0; d < D; ++d) {
          K[((seg.start + t) * H + h) * D + d] = to_float(seg.k.row(t, h)[d]);
          V[((seg.start + t) * H + h) * D + d] = to_float(seg.v.row(t, h)[d]);
        }
  const auto bs = c.blocks();
  std::vector<float> tile(L.group * D);
  for (std::size_t b = 0; b < bs.count; ++b) {
    const std::size_t pos0 = c.sink_tokens() + b * L.group;
    for (std::size_t h = 0; h < H; ++h) {
      const std::uint8_t* blk = bs.slice(b, h);
      quant::decode_key_block_ref(blk + L.key_codes_off(), reinterpret_cast<const f16*>(blk + L.key_scales_off()),
                                  reinterpret_cast<const f16*>(blk + L.key_mins_off()), L, tile.data());
      for (std::size_t t = 0; t < L.group; ++t) {
        if (c.options().rotate) quant::hadamard_rotate(&tile[t * D], D);  // its own inverse
        std::copy_n(&tile[t * D], D, &K[((pos0 + t) * H + h) * D]);
      }
      quant::decode_value_rows_ref(blk + L.value_codes_off(), reinterpret_cast<const f16*>(blk + L.value_scales_off()),
                                   reinterpret_cast<const f16*>(blk + L.value_mins_off()), L.group, L, tile.data());
      for (std::size_t t = 0; t < L.group; ++t) std::copy_n(&tile[t * D], D, &V[((pos0 + t) * H + h) * D]);
    }
  }
}

/// Runs chunks then single-token steps; checks each step's output against the oracle on the
/// cache's dequantized contents plus the new tokens. Returns the number of quantized tokens.
template <class T>
std::size_t run_steps(const quant_options& o, std::uint64_t seed, int head_dim = 64) {
  std::mt19937_64 rng(seed);
  const layer_shape shape{8, 2, head_dim};
  const std::size_t hq = 8, hk = 2, d = std::size_t(head_dim);
  const std::vector<std::size_t> steps = [] {
    std::vector<std::size_t> s{150, 77, 5};
    for (int i = 0; i < 90; ++i) s.push_back(1);
    return s;
  }();
  std::size_t total = 0;
  for (auto n : steps) total += n;
  // bf16-exact inputs, so a bf16 residual stores them exactly; keys get outlier channels.
  auto as_float = [](const std::vector<bf16>& x) {
    std::vector<float> f(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) f[i] = to_float(x[i]);
    return f;
  };
  const auto q = as_float(test::random_values<bf16>(rng, total * hq * d));
  auto k = as_float(test::random_values<bf16>(rng, total * hk * d));
  const auto v = as_float(test::random_values<bf16>(rng, total * hk * d));
  for (std::size_t t = 0; t < total; ++t)
    for (std::size_t h = 0; h < hk; ++h) k[(t * hk + h) * d + 5] = to_float(to_bf16(4.0f * k[(t * hk + h) * d + 5] + 3.0f));

  quant_cache<T> cache(shape, o);
  std::vector<float> K, V, out;
  std::size_t pos = 0;
  for (const std::size_t n : steps) {
    INFO("position " << pos << ", chunk " << n);
    effective_kv(cache, K, V);
    REQUIRE(K.size() == pos * hk * d);
    K.insert(K.end(), k.begin() + pos * hk * d, k.begin() + (pos + n) * hk * d);
    V.insert(V.end(), v.begin() + pos * hk * d, v.begin() + (pos + n) * hk * d);
    out.assign(n * hq * d, 0.0f);
    const tensor_view<const float, 3> qv(q.data() + pos * hq * d, {n, hq, d});
    cache.append_and_attend(qv, tensor_view<const float, 3>(k.data() + pos * hk * d, {n, hk, d}),
                            tensor_view<const float, 3>(v.data() + pos * hk * d, {n, hk, d}),
                            tensor_view<float, 3>(out.data(), {n, hq, d}));
    const auto exact = attention_reference(qv, tensor_view<const float, 3>(K.data(), {pos + n, hk, d}),
                                           tensor_view<const float, 3>(V.data(), {pos + n, hk, d}), shape, pos);
    REQUIRE(test::relative_error(std::span<const float>(out), std::span<const double>(exact)) <= test::attention_f32_rel);
    pos += n;
    // the residual keeps between R and R + G - 1 exact tokens once past warm-up
    REQUIRE(cache.size() == pos);
    REQUIRE(cache.sink_tokens() + cache.quantized_tokens() + cache.residual_tokens() == pos);
    REQUIRE(cache.residual_tokens() < o.residual + o.group);
    REQUIRE(cache.residual_tokens() >= std::min(o.residual, pos - cache.sink_tokens()));
    REQUIRE(cache.sink_tokens() == std::min(o.sink, pos));
  }
  return cache.quantized_tokens();
}

quant_options opts(int kb, int vb, std::size_t g, std::size_t r, std::size_t sinks, bool rotate) {
  quant_options o;
  o.key_bits = kb, o.value_bits = vb, o.group = g, o.residual = r, o.sink = sinks, o.rotate = rotate;
  return o;
}

}  // namespace

TEST_CASE("every step matches the oracle on the dequantized cache", "[quant]") {
  const auto seed = test::fresh_seed();
  // k, v, group, residual, sinks, rotate
  const quant_options o = GENERATE(opts(2, 2, 32, 64, 0, false), opts(1, 1, 16, 32, 0, false),
                                   opts(4, 8, 32, 64, 3, false), opts(8, 4, 16, 48, 0, true),
                                   opts(2, 2, 32, 64, 5, true), opts(1, 2, 64, 64, 2, true),
                                   opts(2, 1, 8, 16, 0, false));
  INFO("seed " << seed << ", k " << o.key_bits << ", v " << o.value_bits << ", group " << o.group << ", residual "
               << o.residual << ", sinks " << o.sink << ", rotate " << o.rotate);
  SECTION("f32 residual") { REQUIRE(run_steps<float>(o, seed) > 2 * o.group); }
  SECTION("bf16 residual") { REQUIRE(run_steps<bf16>(o, seed) > 2 * o.group); }
}

TEST_CASE("rows narrower than a vector take the scalar kernels and match the oracle", "[quant]") {
  // head_dim 32: 1-bit value rows are 4 bytes; group 16 / 8 gives 2-byte key rows.
  const auto seed = test::fresh_seed();
  const quant_options o = GENERATE(opts(1, 1, 16, 32, 0, false), opts(2, 1, 8, 16, 3, true), opts(8, 1, 32, 32, 0, false));
  INFO("seed " << seed << ", k " << o.key_bits << ", v " << o.value_bits << ", group " << o.group);
  REQUIRE(run_steps<float>(o, seed, 32) > 2 * o.group);
}

TEST_CASE("a whole-prompt prefill is exact even when it flushes blocks", "[quant]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{4, 2, 32};
  const std::size_t n = 200;
  const auto q = test::random_values<float>(rng, n * 4 * 32);
  const auto k = test::random_values<float>(rng, n * 2 * 32), v = test::random_values<float>(rng, n * 2 * 32);
  quant_cache<float> cache(shape, opts(1, 1, 16, 32, 0, false));
  std::vector<float> out(n * 4 * 32);
  const tensor_view<const float, 3> qv(q.data(), {n, 4, 32}), kv(k.data(), {n, 2, 32}), vv(v.data(), {n, 2, 32});
  cache.append_and_attend(qv, kv, vv, tensor_view<float, 3>(out.data(), {n, 4, 32}));
  const auto exact = attention_reference(qv, kv, vv, shape, 0);
  REQUIRE(test::relative_error(std::span<const float>(out), std::span<const double>(exact)) <= test::attention_f32_rel);
  REQUIRE(cache.quantized_tokens() == 160);  // 200 - 160 = 40 in [R, R + G)
}

TEST_CASE("footprint counts the blocks, the residual ring and the sinks as allocated", "[quant]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{32, 8, 128};
  const std::size_t H = 8, D = 128, tokens = 1000;
  const int kb = GENERATE(1, 2, 4, 8);
  const int vb = GENERATE(1, 2, 8);
  const std::size_t G = 64, R = 128, S = 4;
  quant_cache<bf16> cache(shape, opts(kb, vb, G, R, S, false));
  const auto k = test::random_values<bf16>(rng, tokens * H * D), v = test::random_values<bf16>(rng, tokens * H * D);
  cache.append(tensor_view<const bf16, 3>(k.data(), {tokens, H, D}), tensor_view<const bf16, 3>(v.data(), {tokens, H, D}));
  const std::size_t blocks = (tokens - S - R) / G;  // 13 blocks; 1000 - 4 - 832 = 164 in the residual
  REQUIRE(cache.quantized_tokens() == blocks * G);
  const std::size_t payload = H * G * D * std::size_t(kb + vb) / 8;
  const std::size_t meta = H * 2 * 2 * (D + G * (D / G));  // f16 scale + min: per key channel, per value token-group
  const std::size_t exact = 2 * H * (R + G + S) * D * sizeof(bf16);
  // blocks are allocated in chunks of chunk_tokens / G blocks; the last chunk's unused part counts
  const std::size_t per_chunk = quant_cache<bf16>::chunk_tokens / G;
  const std::size_t chunks = (blocks + per_chunk - 1) / per_chunk;
  REQUIRE(cache.blocks_per_chunk() == per_chunk);
  const auto f = cache.footprint();
  REQUIRE(f.device_bytes == chunks * per_chunk * (payload + meta) + exact);
  REQUIRE(f.metadata_bytes == blocks * meta);
  REQUIRE(f.device_bytes == cache.allocated_bytes());
  REQUIRE(f.host_bytes == 0);
  REQUIRE(cache.traffic().total() == 0);
  cache.clear();
  REQUIRE(cache.size() == 0);
  REQUIRE(cache.footprint().device_bytes == 0);
  REQUIRE(cache.allocated_bytes() == 0);
}

TEST_CASE("the registry builds quant caches that behave like the policy itself", "[quant]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const layer_shape shape{8, 2, 64};
  const std::string spec = "quant:k=4,v=2,group=32,residual=64,sink=2,rotate=1,dtype=f16";
  auto erased = make_layer_cache(spec, shape);
  quant_cache<f16> direct(shape, quant_options::from_spec(policy_spec::parse(spec)));
  const std::size_t n = 150;
  const auto q = test::random_values<float>(rng, (n + 1) * 8 * 64);
  const auto k = test::random_values<float>(rng, (n + 1) * 2 * 64), v = test::random_values<float>(rng, (n + 1) * 2 * 64);
  erased->append(tensor_view<const float, 3>(k.data(), {n, 2, 64}), tensor_view<const float, 3>(v.data(), {n, 2, 64}));
  direct.append(tensor_view<const float, 3>(k.data(), {n, 2, 64}), tensor_view<const float, 3>(v.data(), {n, 2, 64}));
  std::vector<float> a(8 * 64), b(8 * 64);
  const tensor_view<const float, 3> qv(q.data() + n * 8 * 64, {1, 8, 64}), kv(k.data() + n * 2 * 64, {1, 2, 64}),
      vv(v.data() + n * 2 * 64, {1, 2, 64});
  erased->append_and_attend(qv, kv, vv, tensor_view<float, 3>(a.data(), {1, 8, 64}));
  direct.append_and_attend(qv, kv, vv, tensor_view<float, 3>(b.data(), {1, 8, 64}));
  REQUIRE(a == b);
  REQUIRE(erased->footprint() == direct.footprint());
  REQUIRE(erased->size() == n + 1);
}

TEST_CASE("bad quant specs raise kvc::error naming the option", "[quant]") {
  const layer_shape shape{8, 2, 128};
  REQUIRE_THROWS_WITH(make_layer_cache("quant:k=3", shape), Catch::Contains("k must be one of {1, 2, 4, 8}"));
  REQUIRE_THROWS_WITH(make_layer_cache("quant:v=16", shape), Catch::Contains("v must be one of {1, 2, 4, 8}"));
  REQUIRE_THROWS_WITH(make_layer_cache("quant:group=48,residual=96", shape), Catch::Contains("group (48) must divide head_dim"));
  REQUIRE_THROWS_WITH(make_layer_cache("quant:group=12,residual=24", shape), Catch::Contains("group must be a positive multiple of 8"));
  REQUIRE_THROWS_WITH(make_layer_cache("quant:group=64,residual=32", shape), Catch::Contains("residual (32) must be >= group"));
  REQUIRE_THROWS_WITH(make_layer_cache("quant:group=64,residual=96", shape), Catch::Contains("residual (96)"));
  REQUIRE_THROWS_WITH(make_layer_cache("quant:bits=2", shape), Catch::Contains("unknown option 'bits'"));
  REQUIRE_THROWS_WITH(make_layer_cache("quant:rotate=1,group=32,residual=64", layer_shape{8, 2, 96}),
                      Catch::Contains("rotate=1 needs a power-of-two head_dim"));
  REQUIRE_THROWS_WITH(make_layer_cache("quant:dtype=int8", shape), Catch::Contains("dtype"));
  REQUIRE_THROWS_AS(quant_cache<float>(shape, opts(2, 5, 64, 128, 0, false)), kvc::error);
  REQUIRE_NOTHROW(make_layer_cache("quant:k=1,v=1,group=128,residual=128,sink=64", shape));
}
