// Measures the machine's memory read bandwidth: the baseline every bandwidth figure is divided by.
#pragma once

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace kvc::support {

/// Best-of-`repeats` GB/s (1e9 bytes/s) of a threaded streaming sum over `bytes` (≫ last-level
/// cache) using every OpenMP thread. The sum is returned through `sink` so it cannot be elided.
inline double measure_read_bandwidth(std::size_t bytes = std::size_t(1) << 30, int repeats = 5,
                                     double* sink = nullptr) {
  const std::size_t n = bytes / sizeof(float);
  std::unique_ptr<float[]> buf(new float[n]);
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < n; ++i) buf[i] = float(i & 1023) * 1e-3f;  // first touch per thread
  constexpr std::size_t block = 4096;  // floats summed per inner vector loop
  const std::size_t blocks = n / block;
  double best = 0, total = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    double sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
    for (std::size_t b = 0; b < blocks; ++b) {
      const float* p = buf.get() + b * block;
      float lanes[16] = {};
      for (std::size_t i = 0; i < block; i += 16) {
#pragma omp simd
        for (std::size_t j = 0; j < 16; ++j) lanes[j] += p[i + j];
      }
      float s = 0;
      for (float x : lanes) s += x;
      sum += s;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(blocks * block * sizeof(float)) / secs / 1e9);
    total += sum;
  }
  if (sink) *sink = total;
  return best;
}

}  // namespace kvc::support
