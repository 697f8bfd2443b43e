// A whole file mapped read-only into memory (RAII): the zero-copy base of the safetensors and
// GGUF readers. Private to kvc::io.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>

#include "kvc/core/error.hpp"

namespace kvc::io::detail {

class mapped_file {
 public:
  /// Maps `name` read-only; throws kvc::error naming the file when it cannot be opened, is not a
  /// regular file, or cannot be mapped. An empty file maps to an empty span.
  explicit mapped_file(const std::string& name) {
    const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    kvc::detail::require(fd >= 0, name, ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      kvc::detail::fail(name, ": cannot stat: ", std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      kvc::detail::fail(name, ": not a regular file");
    }
    size_ = std::size_t(st.st_size);
    if (size_ > 0) {
      void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      const int err = errno;
      ::close(fd);
      kvc::detail::require(m != MAP_FAILED, name, ": mmap failed: ", std::strerror(err));
      data_ = m;
    } else {
      ::close(fd);
    }
  }
  ~mapped_file() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  const std::byte* data() const { return static_cast<const std::byte*>(data_); }
  std::size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data(), size_}; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace kvc::io::detail
