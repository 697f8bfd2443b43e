// Owning buffers aligned to 2 MiB and advised to use transparent huge pages when large,
// so streaming kernels do not stall on TLB misses.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace kvc::detail {

inline constexpr std::size_t huge_page_bytes = std::size_t(2) << 20;

struct free_deleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

/// Bytes actually allocated by make_buffer<T>(n) (alignment padding included).
template <class T>
std::size_t buffer_bytes(std::size_t n) {
  const std::size_t bytes = n * sizeof(T);
  const std::size_t align = bytes >= huge_page_bytes ? huge_page_bytes : 64;
  return bytes == 0 ? align : (bytes + align - 1) / align * align;
}

/// An uninitialised array of n T; large arrays are 2 MiB aligned and huge-page advised.
template <class T>
std::unique_ptr<T[], free_deleter> make_buffer(std::size_t n) {
  const bool huge = n * sizeof(T) >= huge_page_bytes;
  const std::size_t align = huge ? huge_page_bytes : 64;
  const std::size_t rounded = buffer_bytes<T>(n);
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (huge) madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return std::unique_ptr<T[], free_deleter>(static_cast<T*>(p));
}

}  // namespace kvc::detail
