// Google Benchmark: dense CPU decode attention (full policy) at Qwen3-8B layer shape, 1k-32k.
#include <benchmark/benchmark.h>

#include <span>
#include <vector>

#include "kvc/attention/dense.hpp"
#include "kvc/policy/full.hpp"
#include "kvc_support/synthetic.hpp"

namespace {

/// Decode attention (one query, 32 heads) over `context` stored tokens of storage type T.
template <class T>
void decode_attention(benchmark::State& state) {
  const std::size_t context = std::size_t(state.range(0));
  kvc::support::synthetic_options o;
  o.context = context;
  o.steps = 1;
  const auto w = kvc::support::make_synthetic_layer(o);
  const auto& shape = o.shape;
  const std::size_t hk = shape.kv_heads, hq = shape.q_heads, d = shape.head_dim;
  kvc::full_cache<T> cache(shape, {kvc::dtype_of<T>, std::size_t(state.range(1))});
  cache.append(kvc::tensor_view<const float, 3>(w.keys.data(), {context, hk, d}),
               kvc::tensor_view<const float, 3>(w.values.data(), {context, hk, d}));
  const auto segments = cache.segments(0, context);
  std::vector<float> qs(w.queries.begin(), w.queries.begin() + long(hq * d));
  for (float& x : qs) x *= shape.softmax_scale();
  kvc::softmax_state st;
  for (auto _ : state) {
    st.reset(hq, d);
    kvc::attend_dense<T>(qs.data(), 1, shape, std::span<const kvc::kv_segment<T>>(segments),
                         kvc::all_visible, st);
    benchmark::DoNotOptimize(st.acc.data());
  }
  const double bytes = double(cache.footprint().held_device_bytes());
  state.SetBytesProcessed(std::int64_t(bytes) * state.iterations());
  state.counters["context"] = double(context);
}

}  // namespace

BENCHMARK(decode_attention<kvc::bf16>)->ArgsProduct({{1024, 4096, 16384, 32768}, {256, 4096}})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(decode_attention<kvc::f16>)->Args({32768, 256})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(decode_attention<float>)->Args({32768, 256})->Unit(benchmark::kMicrosecond)->UseRealTime();
