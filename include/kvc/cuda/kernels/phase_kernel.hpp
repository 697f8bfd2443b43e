// The shape every kvc CUDA kernel is written in: barrier-separated phases over explicit (block, thread) indices.
#pragma once

#include <concepts>
#include <cstddef>

#include "kvc/config.hpp"

namespace kvc::cuda::kernels {

/// The block a phase runs in (CUDA's blockIdx).
struct block_index {
  unsigned x = 0, y = 0, z = 0;
};

/// A launch grid (CUDA's gridDim).
struct grid_shape {
  unsigned x = 1, y = 1, z = 1;
  constexpr std::size_t blocks() const { return std::size_t(x) * y * z; }
};

/// A kernel written as phases. K provides
///
///   using params;              a trivially copyable struct of pointers and sizes (the launch argument)
///   static constexpr int threads;          threads per block
///   struct shared;             block-shared memory (trivial: it lives in __shared__)
///   struct regs;               per-thread state kept from one phase to the next
///   static grid_shape grid(const params&);
///   KVC_HOST_DEVICE static int phases(const params&);   the same count for every block
///   KVC_HOST_DEVICE static void phase(int ph, const params&, block_index, int tid, shared&, regs&);
///
/// Every thread of a block finishes phase ph before any starts ph + 1: on the GPU the entry
/// (cuda/phase_launch.cuh) puts a __syncthreads() between phases; the CPU block emulator
/// (tests/cuda/block_emulator.hpp) runs a phase over all threads before the next. A phase may
/// read what other threads wrote to `shared` in earlier phases only, never in the same one.
/// So the same code is the kernel on a GPU and a test in ordinary CTest.
template <class K>
concept phase_kernel = requires(const typename K::params& p, block_index b, int tid, typename K::shared& s,
                                typename K::regs& r) {
  { K::threads } -> std::convertible_to<int>;
  { K::grid(p) } -> std::same_as<grid_shape>;
  { K::phases(p) } -> std::convertible_to<int>;
  K::phase(0, p, b, tid, s, r);
};

/// Most threads a kvc kernel block has; kernels stride their loops over it.
inline constexpr int block_threads = 128;

}  // namespace kvc::cuda::kernels
