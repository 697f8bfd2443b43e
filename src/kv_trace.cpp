// KV trace files: safetensors with per-layer q/k/v tensors and shape metadata.
#include "kvc/io/kv_trace.hpp"

#include <cstring>

#include "kvc/io/safetensors.hpp"
#include "kvc/io/safetensors_writer.hpp"

namespace kvc::io {
namespace {

using detail::fail;
using detail::require;

std::size_t parse_count(const std::map<std::string, std::string>& md, const std::string& key, const std::string& file) {
  const auto it = md.find(key);
  require(it != md.end(), file, ": trace metadata has no '", key, "'");
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  require(used == it->second.size() && !it->second.empty(), file, ": trace metadata '", key, "' = '", it->second,
          "' is not a count");
  return std::size_t(v);
}

}  // namespace

void kv_trace::validate() const {
  shape.validate();
  require(q.size() == k.size() && k.size() == v.size(), "kv trace: ", q.size(), " q layers, ", k.size(), " k, ",
          v.size(), " v");
  require(!q.empty(), "kv trace: no layers");
  const std::size_t qr = std::size_t(shape.q_heads * shape.head_dim), kr = std::size_t(shape.kv_heads * shape.head_dim);
  for (std::size_t l = 0; l < q.size(); ++l) {
    require(q[l].size() == tokens * qr, "kv trace: layer ", l, " q holds ", q[l].size(), " values, expected ", tokens * qr);
    require(k[l].size() == tokens * kr, "kv trace: layer ", l, " k holds ", k[l].size(), " values, expected ", tokens * kr);
    require(v[l].size() == tokens * kr, "kv trace: layer ", l, " v holds ", v[l].size(), " values, expected ", tokens * kr);
  }
}

void write_kv_trace(const std::filesystem::path& path, const kv_trace& t, kvc::dtype storage) {
  t.validate();
  require(storage == kvc::dtype::f32 || storage == kvc::dtype::bf16, "kv trace: storage must be f32 or bf16, got ",
          kvc::dtype_name(storage));
  std::map<std::string, std::string> md = t.metadata;
  md["format"] = "kvc-kv-trace";
  md["version"] = "1";
  md["layers"] = std::to_string(t.layers());
  md["tokens"] = std::to_string(t.tokens);
  md["q_heads"] = std::to_string(t.shape.q_heads);
  md["kv_heads"] = std::to_string(t.shape.kv_heads);
  md["head_dim"] = std::to_string(t.shape.head_dim);
  std::vector<std::vector<std::byte>> buffers;
  std::vector<tensor_to_write> tensors;
  buffers.reserve(std::size_t(t.layers()) * 3);
  const auto T = std::int64_t(t.tokens), D = std::int64_t(t.shape.head_dim);
  for (int l = 0; l < t.layers(); ++l) {
    const std::string p = "layer." + std::to_string(l) + ".";
    const std::pair<const char*, const std::vector<float>*> parts[] = {{"q", &t.q[std::size_t(l)]},
                                                                       {"k", &t.k[std::size_t(l)]},
                                                                       {"v", &t.v[std::size_t(l)]}};
    for (auto [name, values] : parts) {
      const auto heads = std::int64_t(name[0] == 'q' ? t.shape.q_heads : t.shape.kv_heads);
      std::vector<std::byte> bytes;
      if (storage == kvc::dtype::f32) {
        bytes.resize(values->size() * 4);
        std::memcpy(bytes.data(), values->data(), bytes.size());
      } else {
        bytes.resize(values->size() * 2);
        for (std::size_t i = 0; i < values->size(); ++i) {
          const std::uint16_t b = kvc::to_bf16((*values)[i]).bits;
          std::memcpy(bytes.data() + 2 * i, &b, 2);
        }
      }
      buffers.push_back(std::move(bytes));
      tensors.push_back({p + name, storage == kvc::dtype::f32 ? "F32" : "BF16", {T, heads, D}, buffers.back()});
    }
  }
  write_safetensors(path, tensors, md);
}

kv_trace read_kv_trace(const std::filesystem::path& path) {
  const std::string file = path.string();
  const auto f = safetensors_file::open(path);
  const auto md = f.metadata();
  const auto fmt = md.find("format");
  require(fmt != md.end() && fmt->second == "kvc-kv-trace", file, ": not a kvc KV trace (metadata 'format' is not "
          "'kvc-kv-trace')");
  const auto ver = md.find("version");
  require(ver != md.end() && ver->second == "1", file, ": unsupported trace version");
  kv_trace t;
  const std::size_t layers = parse_count(md, "layers", file);
  t.tokens = parse_count(md, "tokens", file);
  t.shape = {int(parse_count(md, "q_heads", file)), int(parse_count(md, "kv_heads", file)),
             int(parse_count(md, "head_dim", file))};
  try {
    t.shape.validate();
  } catch (const kvc::error& e) {
    fail(file, ": trace shape: ", e.what());
  }
  require(layers >= 1 && layers <= 4096, file, ": trace has ", layers, " layers");
  require(f.tensors().size() == 3 * layers, file, ": ", f.tensors().size(), " tensors for ", layers,
          " layers (expected 3 per layer)");
  for (const auto& [k, val] : md)
    if (k != "format" && k != "version" && k != "layers" && k != "tokens" && k != "q_heads" && k != "kv_heads" &&
        k != "head_dim")
      t.metadata[k] = val;
  for (std::size_t l = 0; l < layers; ++l) {
    for (const char* name : {"q", "k", "v"}) {
      const std::string tn = "layer." + std::to_string(l) + "." + name;
      const auto ref = f.at(tn);
      const auto heads = std::int64_t(name[0] == 'q' ? t.shape.q_heads : t.shape.kv_heads);
      const std::vector<std::int64_t> want{std::int64_t(t.tokens), heads, std::int64_t(t.shape.head_dim)};
      require(ref.info->shape == want, file, ": tensor '", tn, "' has the wrong shape (expected [", t.tokens, ", ",
              heads, ", ", t.shape.head_dim, "])");
      require(ref.info->dtype_name == "F32" || ref.info->dtype_name == "BF16", file, ": tensor '", tn,
              "' has dtype ", ref.info->dtype_name, " (expected F32 or BF16)");
      (name[0] == 'q' ? t.q : name[0] == 'k' ? t.k : t.v).push_back(ref.to_float());
    }
  }
  t.validate();
  return t;
}

}  // namespace kvc::io
