// Device memory for kvc's CUDA kernels: an owning buffer and stream synchronisation (plain C++, no CUDA headers).
#pragma once

#include <cstddef>

#include "kvc/core/stream.hpp"

namespace kvc::cuda {

/// `bytes` of device memory on device 0 (cudaMalloc), freed on destruction; move-only.
/// Throws kvc::error naming the CUDA error when no device is usable or memory is short.
class device_buffer {
 public:
  device_buffer() = default;
  explicit device_buffer(std::size_t bytes);
  device_buffer(device_buffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) { o.data_ = nullptr, o.bytes_ = 0; }
  device_buffer& operator=(device_buffer&& o) noexcept;
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer();

  void* data() const { return data_; }
  std::size_t size() const { return bytes_; }

  /// Copies `bytes` from host memory into the buffer at `offset`, then waits for stream s.
  void upload(const void* host, std::size_t bytes, std::size_t offset = 0, stream s = {});
  /// Copies `bytes` at `offset` to host memory, then waits for stream s.
  void download(void* host, std::size_t bytes, std::size_t offset = 0, stream s = {}) const;

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

/// Waits until stream s has finished its work; throws kvc::error naming a kernel's failure.
void synchronize(stream s = {});

}  // namespace kvc::cuda
