// The GPU entry of every phase kernel: the phases of include/kvc/cuda/kernels/phase_kernel.hpp with a barrier between them.
#pragma once

#include <cuda_runtime.h>

#include "check.cuh"
#include "kvc/core/stream.hpp"
#include "kvc/cuda/kernels/phase_kernel.hpp"

namespace kvc::cuda {

template <class K>
__global__ void __launch_bounds__(K::threads) phase_entry(const __grid_constant__ typename K::params p) {
  __shared__ typename K::shared s;
  typename K::regs r{};
  const kernels::block_index b{blockIdx.x, blockIdx.y, blockIdx.z};
  const int phases = K::phases(p);
  for (int ph = 0; ph < phases; ++ph) {
    K::phase(ph, p, b, int(threadIdx.x), s, r);
    __syncthreads();
  }
}

template <kernels::phase_kernel K>
void launch(const typename K::params& p, stream s) {
  p.validate();
  const kernels::grid_shape g = K::grid(p);
  if (g.blocks() == 0) return;
  phase_entry<K><<<dim3(g.x, g.y, g.z), K::threads, 0, static_cast<cudaStream_t>(s.native())>>>(p);
  check(cudaGetLastError(), "kernel launch");
}

}  // namespace kvc::cuda
