// Google Benchmark: one decode step of the sparse-offload policy vs full bf16 at Qwen3-8B layer shape, 32k context.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "kvc/policy/full.hpp"
#include "kvc/policy/sparse.hpp"
#include "kvc_support/synthetic.hpp"

namespace {

constexpr std::size_t steps = 64;  // distinct decode tokens, reused cyclically

const kvc::support::synthetic_layer& workload(std::size_t context) {
  static std::unique_ptr<kvc::support::synthetic_layer> w;
  if (!w || w->options.context != context) {
    kvc::support::synthetic_options o;
    o.context = context;
    o.steps = steps;
    w = std::make_unique<kvc::support::synthetic_layer>(kvc::support::make_synthetic_layer(o));
  }
  return *w;
}

/// Times `cache.append_and_attend` of one token after `context` stored tokens (the cache grows
/// by one token per iteration, negligible against the context). With `hint`, the step's own
/// query is handed to prefetch_hint first, outside the timed region (in a model it overlaps the
/// previous layer); the step then only scores on prefetched channel rows and gathers.
template <class Cache>
void decode_step(benchmark::State& state, Cache& cache, std::size_t context, bool hint) {
  const auto& w = workload(context);
  const auto& shape = w.options.shape;
  const std::size_t hk = std::size_t(shape.kv_heads), hq = std::size_t(shape.q_heads), d = std::size_t(shape.head_dim);
  cache.append(kvc::tensor_view<const float, 3>(w.keys.data(), {context, hk, d}),
               kvc::tensor_view<const float, 3>(w.values.data(), {context, hk, d}));
  std::vector<float> out(hq * d);
  std::size_t i = 0;
  const auto before = cache.traffic();
  for (auto _ : state) {
    const std::size_t s = i++ % steps;
    const kvc::tensor_view<const float, 3> q(w.queries.data() + s * hq * d, {1, hq, d});
    if (hint) {
      state.PauseTiming();
      if constexpr (kvc::accepts_prefetch_hint<Cache>) cache.prefetch_hint(q);
      state.ResumeTiming();
    }
    cache.append_and_attend(q, kvc::tensor_view<const float, 3>(w.keys.data() + (context + s) * hk * d, {1, hk, d}),
                            kvc::tensor_view<const float, 3>(w.values.data() + (context + s) * hk * d, {1, hk, d}),
                            kvc::tensor_view<float, 3>(out.data(), {1, hq, d}));
    benchmark::DoNotOptimize(out.data());
  }
  const auto t = cache.traffic();
  state.counters["context"] = double(context);
  state.counters["h2d_MB_per_step"] = double(t.host_to_device - before.host_to_device) / 1e6 / double(state.iterations());
  state.counters["device_MB"] = double(cache.footprint().device_bytes) / 1e6;
}

void full_bf16(benchmark::State& state) {
  kvc::full_cache<kvc::bf16> cache(kvc::support::synthetic_options{}.shape);
  decode_step(state, cache, std::size_t(state.range(0)), false);
}

void sparse_bf16(benchmark::State& state, const std::string& spec, bool hint) {
  kvc::sparse_cache<kvc::bf16> cache(kvc::support::synthetic_options{}.shape,
                                              kvc::sparse_options::from_spec(kvc::policy_spec::parse(spec)));
  decode_step(state, cache, std::size_t(state.range(0)), hint);
}

}  // namespace

BENCHMARK(full_bf16)->Arg(32768)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(sparse_bf16, channels, std::string("sparse:topk=896,sink=64,window=64,channels=12"), false)
    ->Arg(32768)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(sparse_bf16, channels_hinted, std::string("sparse:topk=896,sink=64,window=64,channels=12"), true)
    ->Arg(32768)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(sparse_bf16, pages, std::string("sparse:topk=896,sink=64,window=64,selector=pages,page=16"), false)
    ->Arg(32768)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(sparse_bf16, exact, std::string("sparse:topk=896,sink=64,window=64,selector=exact"), false)
    ->Arg(32768)->Unit(benchmark::kMicrosecond)->UseRealTime();
