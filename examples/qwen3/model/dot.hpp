// f32-accumulating dot products and sums over bf16/f32 rows, with run-time CPU dispatch (AVX-512, AVX2, portable).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "kvc/core/dtype.hpp"

namespace kvc::qwen3 {

/// One instruction-set variant of the inner kernels. All variants use the same lane layout
/// (64 partial sums, element c into lane c mod 64, then a halving tree), so they differ only in
/// FMA contraction.
struct dot_kernels {
  const char* isa;  // "avx512", "avx2" or "portable"
  /// Σ w[c]·x[c], w // [n] bf16, x // [n] f32
  float (*bf16)(const kvc::bf16* w, const float* x, std::int64_t n);
  /// Σ w[c]·x[c], w // [n] f32, x // [n] f32
  float (*f32)(const float* w, const float* x, std::int64_t n);
  /// Σ x[c], x // [n] f32 (a streaming read, for bandwidth measurement)
  float (*sum)(const float* x, std::int64_t n);
};

/// The fastest variant this CPU supports, chosen once. The environment variable
/// KVC_QWEN3_ISA=avx512|avx2|portable forces one (kvc::error if the CPU lacks it).
const dot_kernels& best_dot_kernels();
/// The named variant; kvc::error when unknown or not supported by this CPU.
const dot_kernels& dot_kernels_for(std::string_view isa);
/// Names of the variants this CPU can run, best first.
std::vector<std::string_view> supported_isas();

}  // namespace kvc::qwen3
