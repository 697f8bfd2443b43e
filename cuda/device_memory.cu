// kvc::cuda::device_buffer and synchronize: cudaMalloc'd memory with copies in stream order.
#include "kvc/cuda/device_memory.hpp"

#include <cuda_runtime.h>

#include <utility>

#include "check.cuh"

namespace kvc::cuda {

device_buffer::device_buffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes > 0) check(cudaMalloc(&data_, bytes), "cudaMalloc");
}

device_buffer& device_buffer::operator=(device_buffer&& o) noexcept {
  if (this != &o) {
    if (data_) cudaFree(data_);
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

device_buffer::~device_buffer() {
  if (data_) cudaFree(data_);
}

void device_buffer::upload(const void* host, std::size_t bytes, std::size_t offset, stream s) {
  detail::require(offset + bytes <= bytes_, "device_buffer::upload: ", bytes, " bytes at ", offset, " exceed the buffer's ", bytes_);
  if (bytes == 0) return;
  const auto st = static_cast<cudaStream_t>(s.native());
  check(cudaMemcpyAsync(static_cast<char*>(data_) + offset, host, bytes, cudaMemcpyHostToDevice, st), "cudaMemcpyAsync H2D");
  check(cudaStreamSynchronize(st), "cudaStreamSynchronize");
}

void device_buffer::download(void* host, std::size_t bytes, std::size_t offset, stream s) const {
  detail::require(offset + bytes <= bytes_, "device_buffer::download: ", bytes, " bytes at ", offset, " exceed the buffer's ", bytes_);
  if (bytes == 0) return;
  const auto st = static_cast<cudaStream_t>(s.native());
  check(cudaMemcpyAsync(host, static_cast<const char*>(data_) + offset, bytes, cudaMemcpyDeviceToHost, st), "cudaMemcpyAsync D2H");
  check(cudaStreamSynchronize(st), "cudaStreamSynchronize");
}

void synchronize(stream s) { check(cudaStreamSynchronize(static_cast<cudaStream_t>(s.native())), "cudaStreamSynchronize"); }

}  // namespace kvc::cuda
