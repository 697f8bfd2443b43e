// Split-K partial states in device memory: (m, l, acc) per (query head, slot), written by the decode kernels.
#pragma once

#include <cstddef>

#include "kvc/config.hpp"

namespace kvc::cuda::kernels {

/// The fp32 partial softmax states of one decode step: slot j of query head h holds the max
/// score m, the sum l = Σ exp(s - m) and acc = Σ exp(s - m) v over the keys of one CTA.
/// Several launches (packed blocks, then the residual rows) write disjoint slot ranges of one
/// workspace; merge_partials combines every slot of a head.
struct partials {
  float* m = nullptr;    // [q_heads, slots]
  float* l = nullptr;    // [q_heads, slots]
  float* acc = nullptr;  // [q_heads, slots, head_dim]
  int slots = 0;         // slots per query head in the workspace
  int head_dim = 0;

  KVC_HOST_DEVICE std::size_t at(int head, int slot) const { return std::size_t(head) * std::size_t(slots) + std::size_t(slot); }
  KVC_HOST_DEVICE float* acc_of(int head, int slot) const { return acc + at(head, slot) * std::size_t(head_dim); }

  /// Floats of a workspace for `q_heads` heads: m, l and acc together.
  static constexpr std::size_t floats(int q_heads, int slots, int head_dim) {
    return std::size_t(q_heads) * std::size_t(slots) * (2 + std::size_t(head_dim));
  }
  /// The partials laid out in `ws` (floats(q_heads, slots, head_dim) floats).
  static partials in(float* ws, int q_heads, int slots, int head_dim) {
    const std::size_t n = std::size_t(q_heads) * std::size_t(slots);
    return {ws, ws + n, ws + 2 * n, slots, head_dim};
  }
};

}  // namespace kvc::cuda::kernels
