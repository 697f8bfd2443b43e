// Fresh random test inputs: a seed per run (printed, reproducible with KVC_TEST_SEED) and fillers.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "kvc/core/dtype.hpp"

namespace kvc::test {

/// A new seed per call unless KVC_TEST_SEED is set; log it with INFO so failures reproduce.
inline std::uint64_t fresh_seed() {
  if (const char* env = std::getenv("KVC_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  std::random_device rd;
  return (std::uint64_t(rd()) << 32) ^ rd();
}

/// n normal(0, sigma) floats rounded to storage type T (float, bf16, f16).
template <class T>
std::vector<T> random_values(std::mt19937_64& rng, std::size_t n, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<T> out(n);
  for (auto& x : out) x = from_float<T>(dist(rng));
  return out;
}

}  // namespace kvc::test
