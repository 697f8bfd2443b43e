// CUDA status codes to kvc::error.
#pragma once

#include <cuda_runtime.h>

#include "kvc/core/error.hpp"

namespace kvc::cuda {

/// Throws kvc::error "CUDA error in <what>: <reason>" unless status is cudaSuccess.
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) detail::fail("CUDA error in ", what, ": ", cudaGetErrorString(status));
}

}  // namespace kvc::cuda
