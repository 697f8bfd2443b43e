// The CPU block emulator: runs a phase kernel's blocks, phases and threads in order, the same code the GPU runs.
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "kvc/cuda/kernels/phase_kernel.hpp"

namespace kvc::test {

/// The order the emulator runs the threads of a phase in. A kernel whose result depends on it
/// reads, within one phase, what another thread writes in that phase (a race on the GPU).
enum class thread_order { forward, reverse };

/// Runs kernel K over its whole grid on the calling thread. Shared memory starts as all-ones
/// bytes (NaN floats) in every block, so a read of shared memory no earlier phase wrote shows.
template <cuda::kernels::phase_kernel K>
void emulate(const typename K::params& p, thread_order order = thread_order::forward) {
  using cuda::kernels::block_index;
  const cuda::kernels::grid_shape g = K::grid(p);
  const int phases = K::phases(p);
  auto shared = std::make_unique<typename K::shared>();
  std::vector<typename K::regs> regs(K::threads);
  for (unsigned z = 0; z < g.z; ++z)
    for (unsigned y = 0; y < g.y; ++y)
      for (unsigned x = 0; x < g.x; ++x) {
        std::memset(static_cast<void*>(shared.get()), 0xFF, sizeof(typename K::shared));
        regs.assign(K::threads, typename K::regs{});
        for (int ph = 0; ph < phases; ++ph)
          for (int i = 0; i < K::threads; ++i) {
            const int tid = order == thread_order::forward ? i : K::threads - 1 - i;
            K::phase(ph, p, block_index{x, y, z}, tid, *shared, regs[std::size_t(tid)]);
          }
      }
}

}  // namespace kvc::test
