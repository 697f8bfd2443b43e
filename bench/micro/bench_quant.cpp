// Google Benchmark: quantized-policy codecs (encode/decode throughput per bit width) and decode
// attention on packed blocks at Qwen3-8B layer shape, beside full bf16 in the same binary.
#include <benchmark/benchmark.h>

#include <random>
#include <span>
#include <string>
#include <vector>

#include "kvc/attention/dense.hpp"
#include "kvc/policy/full.hpp"
#include "kvc/policy/quant.hpp"
#include "kvc/quant/codec.hpp"
#include "kvc_support/synthetic.hpp"

namespace {

constexpr std::size_t kGroup = 64, kDim = 128;

std::vector<float> normal_tile(std::size_t n) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& e : x) e = dist(rng);
  return x;
}

/// Key block encode: one head's G x head_dim keys per iteration; bytes = f32 input.
void quant_encode_keys(benchmark::State& state) {
  const kvc::quant::block_layout L{int(state.range(0)), int(state.range(0)), kGroup, kDim, 1};
  const auto x = normal_tile(kGroup * kDim);
  std::vector<std::uint8_t> codes(L.key_code_bytes());
  std::vector<kvc::f16> s(kDim), m(kDim);
  for (auto _ : state) {
    kvc::quant::encode_key_block(x.data(), L, codes.data(), s.data(), m.data());
    benchmark::DoNotOptimize(codes.data());
  }
  state.SetBytesProcessed(std::int64_t(x.size() * sizeof(float)) * state.iterations());
}

void quant_decode_keys(benchmark::State& state) {
  const kvc::quant::block_layout L{int(state.range(0)), int(state.range(0)), kGroup, kDim, 1};
  const auto x = normal_tile(kGroup * kDim);
  std::vector<std::uint8_t> codes(L.key_code_bytes());
  std::vector<kvc::f16> s(kDim), m(kDim);
  kvc::quant::encode_key_block(x.data(), L, codes.data(), s.data(), m.data());
  std::vector<float> y(x.size());
  for (auto _ : state) {
    kvc::quant::decode_key_block(codes.data(), s.data(), m.data(), L, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(std::int64_t(y.size() * sizeof(float)) * state.iterations());
}

/// Value rows encode: G tokens x head_dim per iteration; bytes = f32 input.
void quant_encode_values(benchmark::State& state) {
  const kvc::quant::block_layout L{int(state.range(0)), int(state.range(0)), kGroup, kDim, 1};
  const auto x = normal_tile(kGroup * kDim);
  std::vector<std::uint8_t> codes(L.value_code_bytes());
  std::vector<kvc::f16> s(L.value_params()), m(L.value_params());
  for (auto _ : state) {
    kvc::quant::encode_value_rows(x.data(), kGroup, L, codes.data(), s.data(), m.data());
    benchmark::DoNotOptimize(codes.data());
  }
  state.SetBytesProcessed(std::int64_t(x.size() * sizeof(float)) * state.iterations());
}

void quant_decode_values(benchmark::State& state) {
  const kvc::quant::block_layout L{int(state.range(0)), int(state.range(0)), kGroup, kDim, 1};
  const auto x = normal_tile(kGroup * kDim);
  std::vector<std::uint8_t> codes(L.value_code_bytes());
  std::vector<kvc::f16> s(L.value_params()), m(L.value_params());
  kvc::quant::encode_value_rows(x.data(), kGroup, L, codes.data(), s.data(), m.data());
  std::vector<float> y(x.size());
  for (auto _ : state) {
    kvc::quant::decode_value_rows(codes.data(), s.data(), m.data(), kGroup, L, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(std::int64_t(y.size() * sizeof(float)) * state.iterations());
}

/// The synthetic Qwen3-8B-shaped layer (outlier key channels, sink, heavy hitters), built once
/// per context length.
const kvc::support::synthetic_layer& workload(std::size_t context) {
  static std::size_t built = 0;
  static kvc::support::synthetic_layer w;
  if (built != context) {
    kvc::support::synthetic_options o;
    o.context = context;
    o.steps = 1;
    w = kvc::support::make_synthetic_layer(o);
    built = context;
  }
  return w;
}

std::vector<float> scaled_query(const kvc::support::synthetic_layer& w) {
  const auto& shape = w.options.shape;
  std::vector<float> qs(w.queries.begin(), w.queries.begin() + long(shape.q_heads * shape.head_dim));
  for (float& x : qs) x *= shape.softmax_scale();
  return qs;
}

/// Baseline: decode attention over `context` tokens held by the full bf16 policy.
void decode_full_bf16(benchmark::State& state) {
  const std::size_t context = std::size_t(state.range(0));
  const auto& w = workload(context);
  const auto& shape = w.options.shape;
  const std::size_t hk = shape.kv_heads, hq = shape.q_heads, d = shape.head_dim;
  kvc::full_cache<kvc::bf16> cache(shape, {kvc::dtype::bf16, 256});
  cache.append(kvc::tensor_view<const float, 3>(w.keys.data(), {context, hk, d}),
               kvc::tensor_view<const float, 3>(w.values.data(), {context, hk, d}));
  const auto segments = cache.segments(0, context);
  const auto qs = scaled_query(w);
  kvc::softmax_state st;
  for (auto _ : state) {
    st.reset(hq, d);
    kvc::attend_dense<kvc::bf16>(qs.data(), 1, shape, std::span<const kvc::kv_segment<kvc::bf16>>(segments),
                                 kvc::all_visible, st);
    benchmark::DoNotOptimize(st.acc.data());
  }
  state.SetBytesProcessed(std::int64_t(cache.footprint().device_bytes) * state.iterations());
  state.counters["context"] = double(context);
}

/// Decode attention over `context` tokens held by quant:k=b,v=b,group=64,residual=128 (bf16
/// residual): the packed-block kernel plus the residual window, as the policy runs them.
void decode_quant(benchmark::State& state) {
  const int bits = int(state.range(0));
  const std::size_t context = std::size_t(state.range(1));
  const auto& w = workload(context);
  const auto& shape = w.options.shape;
  const std::size_t hk = shape.kv_heads, hq = shape.q_heads, d = shape.head_dim;
  kvc::quant_options o;
  o.key_bits = o.value_bits = bits;
  kvc::quant_cache<kvc::bf16> cache(shape, o);
  cache.append(kvc::tensor_view<const float, 3>(w.keys.data(), {context, hk, d}),
               kvc::tensor_view<const float, 3>(w.values.data(), {context, hk, d}));
  const auto qs = scaled_query(w);
  kvc::softmax_state st;
  for (auto _ : state) {
    st.reset(hq, d);
    kvc::attend_quantized(qs.data(), 1, shape, cache.blocks(), st);
    const auto segs = cache.exact_segments();
    kvc::attend_dense<kvc::bf16>(qs.data(), 1, shape, std::span<const kvc::kv_segment<kvc::bf16>>(segs),
                                 kvc::all_visible, st);
    benchmark::DoNotOptimize(st.acc.data());
  }
  state.SetBytesProcessed(std::int64_t(cache.footprint().device_bytes) * state.iterations());
  state.counters["context"] = double(context);
  state.counters["bits"] = double(bits);
}

}  // namespace

BENCHMARK(quant_encode_keys)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMicrosecond);
BENCHMARK(quant_decode_keys)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMicrosecond);
BENCHMARK(quant_encode_values)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMicrosecond);
BENCHMARK(quant_decode_values)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMicrosecond);
BENCHMARK(decode_full_bf16)->Arg(32768)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(decode_quant)->ArgsProduct({{8, 4, 2, 1}, {32768}})->Unit(benchmark::kMicrosecond)->UseRealTime();
