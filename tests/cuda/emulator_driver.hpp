// The kernel checks' driver for the CPU: memory is host memory, a launch is the block emulator.
#pragma once

#include <cstddef>
#include <cstring>
#include <deque>
#include <vector>

#include "block_emulator.hpp"

namespace kvc::test {

/// Memory and launches for kernel_checks.hpp on the CPU. Fresh memory is all-ones bytes (NaN
/// floats), so output a kernel fails to write shows.
struct emulator_driver {
  static constexpr const char* name = "block emulator";
  thread_order order = thread_order::forward;
  std::deque<std::vector<std::byte>> memory;

  template <class T>
  T* alloc(std::size_t n) {
    memory.emplace_back(n * sizeof(T) + 1, std::byte{0xFF});
    return reinterpret_cast<T*>(memory.back().data());
  }
  template <class T>
  T* upload(const std::vector<T>& host) {
    T* p = alloc<T>(host.size());
    if (!host.empty()) std::memcpy(p, host.data(), host.size() * sizeof(T));
    return p;
  }
  template <class T>
  std::vector<T> download(const T* p, std::size_t n) {
    return std::vector<T>(p, p + n);
  }
  template <class K>
  void run(const typename K::params& p) {
    p.validate();
    emulate<K>(p, order);
  }
};

}  // namespace kvc::test
