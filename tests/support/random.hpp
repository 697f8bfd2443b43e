// Fresh random test inputs: a seed per run (printed, reproducible with KVC_TEST_SEED) and fillers
// (values, token ids, a split of layers into two kinds).
#pragma once

#include <algorithm>
#include <cstddef>
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

/// n uniform token ids in [0, vocab).
inline std::vector<std::int32_t> random_tokens(std::mt19937_64& rng, std::size_t n, int vocab) {
  std::vector<std::int32_t> t(n);
  for (auto& x : t) x = std::uniform_int_distribution<std::int32_t>(0, vocab - 1)(rng);
  return t;
}

/// A random set of `layers` flags (each set with probability 1/3) with at least one set and one
/// clear: which layers of a synthetic model are dense.
inline std::vector<bool> random_dense_set(std::mt19937_64& rng, int layers) {
  std::vector<bool> dense(std::size_t(layers), false);
  while (std::count(dense.begin(), dense.end(), true) == 0 || std::count(dense.begin(), dense.end(), true) == layers)
    for (auto&& x : dense) x = std::uniform_int_distribution<int>(0, 2)(rng) == 0;
  return dense;
}

}  // namespace kvc::test
