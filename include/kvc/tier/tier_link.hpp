// Memory tiers (device, host) and the one copy path between them, which counts every byte.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kvc/core/accounting.hpp"
#include "kvc/core/stream.hpp"

namespace kvc::detail {

/// The boundary between the device and host tiers of one cache. In a CUDA build the device tier
/// is GPU memory and the host tier pinned RAM; in a CPU build both are RAM, but every crossing
/// still goes through one of these calls, which count the bytes (thread-safe: kernels call it
/// from OpenMP threads), so traffic() reports what a GPU build moves over PCIe:
///
/// - `copy_to_device(dst, src, bytes)`: a host→device copy (prefetched channel slices), and
///   `gather_to_device(dst, rows, row_bytes, src_row)`, its row gather (selected tokens);
/// - `copy_to_host(dst, src, bytes)`: a device→host copy (tokens leaving the resident window);
/// - `read_from_host(src, count)`: a device kernel reading host memory in place (a zero-copy /
///   UVA read, as TailorKV's pinned-memory gather does); nothing is copied, the bytes are counted.
///
/// Copies are ordered on the link's stream, set by the cache at the start of each call
/// (`use(stream)`): a CUDA link issues cudaMemcpyAsync on it; the CPU link copies at once.
class tier_link {
 public:
  tier_link() = default;
  tier_link(tier_link&& o) noexcept : h2d_(o.h2d_.load()), d2h_(o.d2h_.load()), stream_(o.stream_) {}
  tier_link& operator=(tier_link&& o) noexcept {
    h2d_.store(o.h2d_.load());
    d2h_.store(o.d2h_.load());
    stream_ = o.stream_;
    return *this;
  }

  /// Orders the following copies on `s` (the stream of the cache call in progress).
  void use(stream s) { stream_ = s; }
  /// The stream copies are ordered on.
  stream current_stream() const { return stream_; }

  /// Copies `bytes` from host memory `src` to device memory `dst`, counting them host→device.
  void copy_to_device(void* dst, const void* src, std::size_t bytes) {
    std::memcpy(dst, src, bytes);
    h2d_.fetch_add(bytes, std::memory_order_relaxed);
  }
  /// Copies `bytes` from device memory `src` to host memory `dst`, counting them device→host.
  void copy_to_host(void* dst, const void* src, std::size_t bytes) {
    std::memcpy(dst, src, bytes);
    d2h_.fetch_add(bytes, std::memory_order_relaxed);
  }
  /// Copies `rows` rows of `row_bytes` each from host memory (row i at src_row(i)) to device
  /// memory dst (contiguous rows), counting them host→device: a gather.
  template <class SrcRow>
  void gather_to_device(void* dst, std::size_t rows, std::size_t row_bytes, SrcRow&& src_row) {
    auto* d = static_cast<unsigned char*>(dst);
    for (std::size_t i = 0; i < rows; ++i) std::memcpy(d + i * row_bytes, src_row(i), row_bytes);
    h2d_.fetch_add(rows * row_bytes, std::memory_order_relaxed);
  }
  /// A device-side read of `count` elements of host memory at `src` (zero-copy); counts the
  /// bytes host→device and returns `src` for the kernel to read.
  template <class T>
  const T* read_from_host(const T* src, std::size_t count) {
    h2d_.fetch_add(count * sizeof(T), std::memory_order_relaxed);
    return src;
  }

  /// Bytes moved since construction or reset().
  transfer_traffic traffic() const {
    return {h2d_.load(std::memory_order_relaxed), d2h_.load(std::memory_order_relaxed)};
  }
  void reset() {
    h2d_.store(0);
    d2h_.store(0);
  }

 private:
  std::atomic<std::size_t> h2d_{0};
  std::atomic<std::size_t> d2h_{0};
  stream stream_;
};

}  // namespace kvc::detail
