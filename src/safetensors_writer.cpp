// Minimal safetensors writer: JSON header via nlohmann, padded to 8 bytes, data back to back.
#include "kvc/io/safetensors_writer.hpp"

#include <fstream>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "kvc/core/error.hpp"
#include "kvc/io/safetensors.hpp"

namespace kvc::io {

std::vector<std::byte> serialize_safetensors(std::span<const tensor_to_write> tensors,
                                             const std::map<std::string, std::string>& metadata) {
  using kvc::detail::require;
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const tensor_to_write& t : tensors) {
    require(t.name != "__metadata__", "write_safetensors: '__metadata__' is not a tensor name");
    require(seen.insert(t.name).second, "write_safetensors: duplicate tensor name '", t.name, "'");
    const auto bits = safetensors_dtype_bits(t.dtype);
    require(bits.has_value(), "write_safetensors: tensor '", t.name, "': unknown dtype '", t.dtype,
            "'");
    std::uint64_t numel = 1;
    for (const std::int64_t d : t.shape) {
      require(d >= 0, "write_safetensors: tensor '", t.name, "': negative dimension ", d);
      require(d == 0 || numel <= std::numeric_limits<std::uint64_t>::max() / std::uint64_t(d) / 64,
              "write_safetensors: tensor '", t.name, "': shape too large");
      numel *= std::uint64_t(d);
    }
    require(numel * *bits % 8 == 0 && numel * *bits / 8 == t.data.size(), "write_safetensors: tensor '",
            t.name, "': ", t.data.size(), " data bytes do not match its shape and dtype ", t.dtype);
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<std::byte> out;
  out.reserve(8 + text.size() + offset);
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(std::byte((n >> (8 * i)) & 0xff));
  for (const char ch : text) out.push_back(std::byte(static_cast<unsigned char>(ch)));
  for (const tensor_to_write& t : tensors) out.insert(out.end(), t.data.begin(), t.data.end());
  return out;
}

void write_safetensors(const std::filesystem::path& path, std::span<const tensor_to_write> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::vector<std::byte> bytes = serialize_safetensors(tensors, metadata);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  kvc::detail::require(bool(out), path.string(), ": cannot open for writing");
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  out.close();
  kvc::detail::require(!out.fail(), path.string(), ": write failed");
}

}  // namespace kvc::io
