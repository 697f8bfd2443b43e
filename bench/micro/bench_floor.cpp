// Google Benchmark: the arithmetic floor of f32 decode attention at Qwen3-8B layer shape — the
// q·k and p·v multiply-adds that every f32 kernel, dense or packed, must issue, run from
// registers with nothing else, over the OpenMP threads as the kernels are.
//
// Read it against decode_full_bf16 and decode_quant in the same run (bench_quant.cpp): no f32
// kernel can take less time than this, whatever its storage, so floor / full-bf16 bounds the
// speed-up a packed format can show over bf16 without cheaper arithmetic.
#include <benchmark/benchmark.h>

#include <cstddef>

#include <omp.h>

#include "kvc/detail/simd.hpp"

namespace {

namespace simd = kvc::detail::simd;

/// FMAs of one decode step over `context` tokens: q·k and p·v for each (token, query head,
/// channel), `simd::width` lanes per instruction. Qwen3-8B layer: 32 query heads, dim 128.
constexpr std::size_t step_fmas(std::size_t context) { return context * 32 * 128 * 2 / simd::width; }

/// Independent accumulators per thread: enough to cover FMA latency times throughput.
constexpr int chains = 12;

void fma_floor(benchmark::State& state) {
  const std::size_t fmas = step_fmas(std::size_t(state.range(0)));
  float sink = 0.0f;
  for (auto _ : state) {
#pragma omp parallel reduction(+ : sink)
    {
      const std::size_t share = fmas / std::size_t(omp_get_num_threads());
      simd::vf a[chains];
      for (int j = 0; j < chains; ++j) a[j] = simd::splat(1e-3f * float(j));
      const simd::vf x = simd::splat(0.999f), y = simd::splat(1e-3f);
      for (std::size_t i = 0; i < share; i += chains)
        for (int j = 0; j < chains; ++j) a[j] = a[j] * x + y;  // contracted to one FMA where the build has it
      for (int j = 0; j < chains; ++j)
        for (std::size_t w = 0; w < simd::width; ++w) sink += a[j][w];
    }
    benchmark::DoNotOptimize(sink);
  }
  state.counters["fmas"] = double(fmas);
  state.counters["context"] = double(state.range(0));
}

}  // namespace

BENCHMARK(fma_floor)->Arg(32768)->Unit(benchmark::kMicrosecond)->UseRealTime();
