// kvc::cuda runtime helpers: device discovery and a bf16 -> f32 conversion kernel.
#include <cuda_runtime.h>

#include <cstdint>

#include "check.cuh"
#include "kvc/core/error.hpp"
#include "kvc/cuda/runtime.hpp"

namespace kvc::cuda {
namespace {

// the conversion is the shared host-device one (kvc/core/dtype.hpp), not a second definition
__global__ void bf16_to_f32_kernel(const bf16* src, float* dst, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    dst[i] = to_float(src[i]);
}

}  // namespace

int device_count() noexcept {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

std::string device_description() {
  int n = 0;
  const cudaError_t status = cudaGetDeviceCount(&n);
  if (status != cudaSuccess) return std::string("no usable CUDA device: ") + cudaGetErrorString(status);
  if (n == 0) return "no CUDA device";
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  return prop.name;
}

void bf16_to_f32(const bf16* src, float* dst, std::size_t n) {
  if (n == 0) return;
  bf16* d_src = nullptr;
  float* d_dst = nullptr;
  check(cudaMalloc(&d_src, n * sizeof(bf16)), "cudaMalloc");
  check(cudaMalloc(&d_dst, n * sizeof(float)), "cudaMalloc");
  check(cudaMemcpy(d_src, src, n * sizeof(bf16), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  const unsigned blocks = unsigned((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096);
  bf16_to_f32_kernel<<<blocks, 256>>>(d_src, d_dst, n);
  check(cudaGetLastError(), "bf16_to_f32 launch");
  check(cudaMemcpy(dst, d_dst, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
  cudaFree(d_src);
  cudaFree(d_dst);
}

}  // namespace kvc::cuda
