// A little GGUF writer for tests: hand-made, model-shaped and deliberately broken files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kvc/io/gguf.hpp"

namespace kvc::test {

/// A little GGUF writer for hand-made (and deliberately broken) files.
struct gguf_builder {
  std::vector<std::byte> b;
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
  }
  void str(const std::string& s) {
    put<std::uint64_t>(s.size());
    for (char c : s) b.push_back(std::byte(c));
  }
  void header(std::uint32_t version, std::uint64_t tensors, std::uint64_t kvs) {
    for (char c : std::string("GGUF")) b.push_back(std::byte(c));
    put(version);
    put(tensors);
    put(kvs);
  }
  void kv_u32(const std::string& key, std::uint32_t v) {
    str(key);
    put<std::uint32_t>(4);
    put(v);
  }
  void kv_f32(const std::string& key, float v) {
    str(key);
    put<std::uint32_t>(6);
    put(v);
  }
  void kv_str(const std::string& key, const std::string& v) {
    str(key);
    put<std::uint32_t>(8);
    str(v);
  }
  void kv_bool(const std::string& key, bool v) {
    str(key);
    put<std::uint32_t>(7);
    put<std::uint8_t>(v ? 1 : 0);
  }
  void kv_str_array(const std::string& key, const std::vector<std::string>& items) {
    str(key);
    put<std::uint32_t>(9);
    put<std::uint32_t>(8);
    put<std::uint64_t>(items.size());
    for (const auto& s : items) str(s);
  }
  void kv_i32_array(const std::string& key, const std::vector<std::int32_t>& items) {
    str(key);
    put<std::uint32_t>(9);
    put<std::uint32_t>(5);
    put<std::uint64_t>(items.size());
    for (auto v : items) put(v);
  }
  void tensor_info(const std::string& name, std::vector<std::uint64_t> dims, std::uint32_t type,
                   std::uint64_t offset) {
    str(name);
    put<std::uint32_t>(std::uint32_t(dims.size()));
    for (auto d : dims) put(d);
    put(type);
    put(offset);
  }
  void pad(std::size_t align = 32) {
    while (b.size() % align) b.push_back(std::byte{0});
  }
  void data(std::size_t n, std::byte fill = std::byte{0}) { b.insert(b.end(), n, fill); }
  kvc::io::gguf_header parse() const { return kvc::io::parse_gguf_bytes(b, "built.gguf"); }
  /// Writes the bytes to `path`; false when the file cannot be written.
  bool write(const std::filesystem::path& path) const {
    std::ofstream os(path, std::ios::binary);
    os.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    return bool(os);
  }
};

}  // namespace kvc::test
