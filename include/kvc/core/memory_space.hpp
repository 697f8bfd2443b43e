// Where the bytes of a view live (host, pinned host, device), and the check every entry point makes.
#pragma once

#include <cstdint>
#include <string_view>

#include "kvc/core/error.hpp"

namespace kvc {

/// The memory a pointer points into. `host` is ordinary pageable RAM; `pinned_host` is page-locked
/// RAM a GPU can read over PCIe (zero-copy) and copy from asynchronously; `device` is GPU memory,
/// which the CPU cannot dereference. Views carry it so that a pointer in the wrong memory is a
/// clear kvc::error at the entry point, never a crash or a silent copy.
enum class memory_space : std::uint8_t { host, pinned_host, device };

constexpr std::string_view memory_space_name(memory_space s) {
  switch (s) {
    case memory_space::host: return "host";
    case memory_space::pinned_host: return "pinned host";
    case memory_space::device: return "device";
  }
  return "?";
}

/// True if CPU code can read and write memory in `s` (host and pinned host).
constexpr bool host_accessible(memory_space s) { return s != memory_space::device; }

namespace detail {
/// Throws kvc::error naming `what` unless `s` is readable by CPU code (a CPU policy or backend).
inline void require_host_accessible(memory_space s, const char* what) {
  require(host_accessible(s), what, " is in ", memory_space_name(s),
          " memory, but this cache runs on the CPU and needs host or pinned host memory "
          "(build the cache for a device backend, or copy the tensor to the host)");
}
}  // namespace detail

}  // namespace kvc
