// Normalised fast Walsh-Hadamard transform: the orthonormal, symmetric rotation applied to keys
// before quantization (and to queries, so q·k is unchanged).
#pragma once

#include <cmath>
#include <cstddef>

namespace kvc::quant {

/// True when n is a power of two (the transform's requirement on head_dim).
constexpr bool is_power_of_two(std::size_t n) { return n > 0 && (n & (n - 1)) == 0; }

/// x [n] <- H_n x / sqrt(n), in place; n a power of two. H_n / sqrt(n) is orthonormal and its
/// own inverse, so applying it twice returns x (up to rounding).
inline void hadamard_rotate(float* x, std::size_t n) {
  for (std::size_t h = 1; h < n; h *= 2)
    for (std::size_t i = 0; i < n; i += 2 * h) {
#pragma omp simd
      for (std::size_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  const float norm = 1.0f / std::sqrt(float(n));
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) x[i] *= norm;
}

}  // namespace kvc::quant
