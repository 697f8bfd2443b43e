// The kernel checks' driver for a GPU: memory is device memory, a launch is kvc::cuda::launch.
#pragma once

#include <cstddef>
#include <deque>
#include <vector>

#include "kvc/cuda/device_memory.hpp"
#include "kvc/cuda/launch.hpp"

namespace kvc::test {

/// Memory and launches for kernel_checks.hpp on device 0; downloads wait for the kernels.
struct gpu_driver {
  static constexpr const char* name = "GPU";
  std::deque<cuda::device_buffer> memory;

  template <class T>
  T* alloc(std::size_t n) {
    memory.emplace_back(n * sizeof(T) + 1);
    std::vector<unsigned char> poison(n * sizeof(T) + 1, 0xFF);  // NaN floats, as the emulator's memory
    memory.back().upload(poison.data(), poison.size());
    return static_cast<T*>(memory.back().data());
  }
  template <class T>
  T* upload(const std::vector<T>& host) {
    T* p = alloc<T>(host.size());
    memory.back().upload(host.data(), host.size() * sizeof(T));
    return p;
  }
  template <class T>
  std::vector<T> download(const T* p, std::size_t n) {
    cuda::synchronize();
    for (const auto& b : memory)
      if (static_cast<const void*>(p) == b.data()) {
        std::vector<T> out(n);
        b.download(out.data(), n * sizeof(T));
        return out;
      }
    throw kvc::error("gpu_driver::download: not a buffer of this driver");
  }
  template <class K>
  void run(const typename K::params& p) {
    cuda::launch<K>(p);
  }
};

}  // namespace kvc::test
