// Saved sequences as safetensors files: writing, checksum, and validation on load.
#include "kvc/io/sequence_file.hpp"

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>

#include "kvc/core/error.hpp"
#include "kvc/io/safetensors.hpp"
#include "kvc/io/safetensors_writer.hpp"

namespace kvc::io {
namespace {

constexpr std::uint64_t fnv_offset = 0xcbf29ce484222325ull, fnv_prime = 0x100000001b3ull;

void hash_bytes(std::uint64_t& h, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * fnv_prime;
}

std::string checksum(const sequence_state& state) {
  std::uint64_t h = fnv_offset;
  for (const auto& [name, a] : state.arrays()) {
    hash_bytes(h, name.data(), name.size() + 1);
    hash_bytes(h, a.type.data(), a.type.size() + 1);
    for (std::int64_t d : a.shape) hash_bytes(h, &d, sizeof d);
    hash_bytes(h, a.bytes.data(), a.bytes.size());
  }
  char text[17];
  for (int i = 0; i < 16; ++i) text[i] = "0123456789abcdef"[(h >> (60 - 4 * i)) & 15];
  text[16] = '\0';
  return text;
}

std::string shape_text(const sequence_layout& layout) {
  const layer_shape& s = layout.shape;
  return std::to_string(s.q_heads) + "," + std::to_string(s.kv_heads) + "," + std::to_string(s.head_dim);
}

}  // namespace

std::vector<std::byte> serialize_sequence(const sequence_layout& layout, const sequence_state& state) {
  std::vector<tensor_to_write> tensors;
  for (const auto& [name, a] : state.arrays()) tensors.push_back({name, a.type, a.shape, a.bytes});
  std::map<std::string, std::string> meta{{"format", std::string(sequence_format)},
                                          {"layers", std::to_string(layout.specs.size())},
                                          {"shape", shape_text(layout)},
                                          {"checksum", checksum(state)}};
  for (std::size_t l = 0; l < layout.specs.size(); ++l) meta["spec." + std::to_string(l)] = layout.specs[l];
  return serialize_safetensors(tensors, meta);
}

sequence_file parse_sequence_bytes(std::span<const std::byte> bytes, std::string_view source, bool verify_checksum) {
  const safetensors_header h = parse_safetensors_bytes(bytes, source);
  sequence_file f;
  f.metadata = h.metadata;
  const auto meta = [&](const char* key) -> const std::string& {
    const auto it = f.metadata.find(key);
    detail::require(it != f.metadata.end(), source, ": not a kvc sequence file (no '", key, "' in its metadata)");
    return it->second;
  };
  detail::require(meta("format") == sequence_format, source, ": format '", meta("format"), "', expected '",
                  sequence_format, "'");
  for (const tensor_info& t : h.tensors) {
    const std::byte* data = bytes.data() + h.data_offset + t.begin;
    f.state.put(t.name, t.dtype_name, t.shape, data, std::size_t(t.bytes()));
  }
  if (verify_checksum)
    detail::require(checksum(f.state) == meta("checksum"), source, ": checksum ", checksum(f.state),
                    " does not match the recorded ", meta("checksum"), " (the file was altered)");
  return f;
}

void check_sequence_matches(const sequence_file& file, const sequence_layout& layout, std::string_view source) {
  const auto& m = file.metadata;
  const auto get = [&](const std::string& key) {
    const auto it = m.find(key);
    return it == m.end() ? std::string("(absent)") : it->second;
  };
  detail::require(get("layers") == std::to_string(layout.specs.size()), source, ": saved from ", get("layers"),
                  " layers, the cache has ", layout.specs.size());
  detail::require(get("shape") == shape_text(layout), source, ": saved with q_heads, kv_heads, head_dim ", get("shape"),
                  ", the cache has ", shape_text(layout));
  for (std::size_t l = 0; l < layout.specs.size(); ++l)
    detail::require(get("spec." + std::to_string(l)) == layout.specs[l], source, ": layer ", l, " was saved with policy '",
                    get("spec." + std::to_string(l)), "', the cache's is '", layout.specs[l], "'");
}

void write_sequence_file(const std::filesystem::path& path, const sequence_layout& layout, const sequence_state& state) {
  const std::vector<std::byte> bytes = serialize_sequence(layout, state);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  detail::require(bool(out), "cannot write ", path.string());
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  detail::require(bool(out.flush()), "failed writing ", path.string());
}

sequence_file read_sequence_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  detail::require(bool(in), "cannot read ", path.string());
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(raw.data()), raw.size());
  return parse_sequence_bytes(bytes, path.string());
}

}  // namespace kvc::io
