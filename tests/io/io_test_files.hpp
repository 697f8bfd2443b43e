// Test helpers for kvc::io: unique temporary directories and raw file bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace kvc::test {

/// A fresh, uniquely named directory under the system temp dir, removed with its contents.
class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    for (int attempt = 0;; ++attempt) {
      path_ = std::filesystem::temp_directory_path() /
              ("kvc-io-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
      if (std::filesystem::create_directory(path_)) break;
      if (attempt > 100) throw std::runtime_error("cannot create a temp dir");
    }
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::filesystem::path& p, std::span<const std::byte> bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) throw std::runtime_error("write failed: " + p.string());
}

inline void write_text(const std::filesystem::path& p, std::string_view text) {
  write_bytes(p, std::as_bytes(std::span(text.data(), text.size())));
}

inline std::vector<std::byte> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto b = std::as_bytes(std::span(chars));
  return {b.begin(), b.end()};
}

/// A whole safetensors file: little-endian length of `header` (written as is, no padding),
/// `header`, then `data_bytes` bytes of filler.
inline std::vector<std::byte> raw_safetensors(std::string_view header, std::size_t data_bytes) {
  std::vector<std::byte> out;
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(std::byte((n >> (8 * i)) & 0xff));
  for (const char c : header) out.push_back(std::byte(static_cast<unsigned char>(c)));
  out.resize(out.size() + data_bytes, std::byte{0x5a});
  return out;
}

/// Overwrites the 8-byte header length at the start of `bytes`.
inline void set_header_length(std::vector<std::byte>& bytes, std::uint64_t n) {
  for (int i = 0; i < 8; ++i) bytes.at(std::size_t(i)) = std::byte((n >> (8 * i)) & 0xff);
}

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span(v));
}

}  // namespace kvc::test
