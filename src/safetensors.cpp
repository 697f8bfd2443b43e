// Safetensors header validation, mmap-backed safetensors files and sharded HF checkpoints.
#include "kvc/io/safetensors.hpp"


#include <algorithm>
#include <memory>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "mapped_file.hpp"

namespace kvc::io {
namespace {

using json = nlohmann::json;
using kvc::detail::fail;
using kvc::detail::require;

struct dtype_entry {
  std::string_view name;
  std::uint32_t bits;
  std::optional<kvc::dtype> kvc_type;
};

// Every dtype of safetensors' tensor.rs; only BF16, F16 and F32 are kvc types.
constexpr dtype_entry dtype_table[] = {
    {"BOOL", 8, {}},        {"F4", 4, {}},          {"F6_E2M3", 6, {}},
    {"F6_E3M2", 6, {}},     {"U8", 8, {}},          {"I8", 8, {}},
    {"F8_E5M2", 8, {}},     {"F8_E4M3", 8, {}},     {"F8_E8M0", 8, {}},
    {"F8_E4M3FNUZ", 8, {}}, {"F8_E5M2FNUZ", 8, {}}, {"I16", 16, {}},
    {"U16", 16, {}},        {"F16", 16, kvc::dtype::f16}, {"BF16", 16, kvc::dtype::bf16},
    {"I32", 32, {}},        {"U32", 32, {}},        {"F32", 32, kvc::dtype::f32},
    {"C64", 64, {}},        {"F64", 64, {}},        {"I64", 64, {}},
    {"U64", 64, {}},
};

const dtype_entry* find_dtype(std::string_view name) {
  for (const auto& e : dtype_table)
    if (e.name == name) return &e;
  return nullptr;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

// Parses JSON with nlohmann, rejecting duplicate keys in any object (nlohmann would silently
// keep the last one). `what` names the document in messages.
json parse_json_strict(std::string_view text, std::string_view source, std::string_view what) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  std::size_t duplicate_depth = 0;
  auto on_event = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
          duplicate = parsed.get<std::string>();
          duplicate_depth = open_objects.size();
        }
        break;
      default: break;
    }
    return true;
  };
  json root;
  try {
    root = json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& e) {
    fail(source, ": ", what, " is not valid JSON: ", e.what());
  }
  if (!duplicate.empty()) {
    if (duplicate_depth == 1 && what == "header")
      fail(source, ": duplicate tensor name '", duplicate, "' in header");
    fail(source, ": duplicate key '", duplicate, "' in ", what);
  }
  return root;
}

// Reads a non-negative integer that fits int64 from a JSON number; `what` names it.
std::int64_t shape_dim(const json& v, const std::string& where, std::size_t i) {
  require(v.is_number_integer(), where, ": shape[", i, "] must be an integer, got ",
          v.is_number_float() ? "a floating-point number" : v.type_name());
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    require(u <= std::uint64_t(std::numeric_limits<std::int64_t>::max()), where, ": shape[", i,
            "] = ", u, " is too large");
    return std::int64_t(u);
  }
  const auto s = v.get<std::int64_t>();
  require(s >= 0, where, ": shape[", i, "] = ", s, " is negative");
  return s;
}

tensor_info parse_entry(const std::string& name, const json& entry, std::uint64_t data_bytes,
                        std::string_view source) {
  const std::string where = std::string(source) + ": tensor '" + name + "'";
  require(entry.is_object(), where, ": entry must be a JSON object, got ", entry.type_name());
  auto field = [&](const char* key) -> const json& {
    const auto it = entry.find(key);
    require(it != entry.end(), where, ": missing field '", key, "'");
    return *it;
  };

  tensor_info t;
  t.name = name;

  const json& dt = field("dtype");
  require(dt.is_string(), where, ": field 'dtype' must be a string, got ", dt.type_name());
  t.dtype_name = dt.get<std::string>();
  const dtype_entry* d = find_dtype(t.dtype_name);
  require(d != nullptr, where, ": unknown dtype '", t.dtype_name, "'");
  t.element_bits = d->bits;
  t.type = d->kvc_type.value_or(kvc::dtype::f32);

  const json& sh = field("shape");
  require(sh.is_array(), where, ": field 'shape' must be an array, got ", sh.type_name());
  t.shape.reserve(sh.size());
  for (std::size_t i = 0; i < sh.size(); ++i) t.shape.push_back(shape_dim(sh[i], where, i));

  const json& off = field("data_offsets");
  require(off.is_array(), where, ": field 'data_offsets' must be an array, got ", off.type_name());
  require(off.size() == 2, where, ": field 'data_offsets' must have 2 elements, got ", off.size());
  for (std::size_t i = 0; i < 2; ++i)
    require(off[i].is_number_unsigned(), where, ": data_offsets[", i,
            "] must be a non-negative integer, got ", off[i].dump());
  t.begin = off[0].get<std::uint64_t>();
  t.end = off[1].get<std::uint64_t>();

  // Element count and byte size, overflow-checked.
  std::uint64_t numel = 1;
  for (const std::int64_t dim : t.shape) {
    const auto u = std::uint64_t(dim);
    require(u == 0 || numel <= std::uint64_t(std::numeric_limits<std::int64_t>::max()) / u, where,
            ": shape ", shape_text(t.shape), " has more elements than fit in 64 bits");
    numel *= u;
  }
  require(numel <= std::numeric_limits<std::uint64_t>::max() / d->bits, where, ": shape ",
          shape_text(t.shape), " of ", t.dtype_name, " is too large (byte size overflows)");
  const std::uint64_t bits = numel * d->bits;
  require(bits % 8 == 0, where, ": shape ", shape_text(t.shape), " of ", t.dtype_name, " is ",
          bits, " bits, not a whole number of bytes");

  require(t.begin <= t.end, where, ": data_offsets begin ", t.begin, " is after end ", t.end);
  require(t.end <= data_bytes, where, ": data_offsets end ", t.end, " exceeds data size ",
          data_bytes);
  require(t.end - t.begin == bits / 8, where, ": data_offsets [", t.begin, ", ", t.end,
          ") span ", t.end - t.begin, " bytes but shape ", shape_text(t.shape), " of ",
          t.dtype_name, " needs ", bits / 8, " bytes");
  return t;
}

std::map<std::string, std::string> parse_metadata(const json& m, std::string_view source) {
  require(m.is_object(), source, ": __metadata__ must be an object of strings, got ", m.type_name());
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : m.items()) {
    require(v.is_string(), source, ": __metadata__ value for key '", k,
            "' must be a string, got ", v.type_name());
    out.emplace(k, v.get<std::string>());
  }
  return out;
}

// The sorted offsets must tile [0, data_bytes) exactly.
void check_coverage(const std::vector<tensor_info>& tensors, std::uint64_t data_bytes,
                    std::string_view source) {
  std::vector<const tensor_info*> order;
  order.reserve(tensors.size());
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const tensor_info* a, const tensor_info* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  std::uint64_t pos = 0;
  const tensor_info* prev = nullptr;
  for (const tensor_info* t : order) {
    if (t->begin < pos)
      fail(source, ": tensor '", t->name, "': data_offsets [", t->begin, ", ", t->end,
           ") overlap tensor '", prev->name, "' [", prev->begin, ", ", prev->end, ")");
    require(t->begin == pos, source, ": hole in data: bytes [", pos, ", ", t->begin,
            ") are not covered by any tensor (before tensor '", t->name, "')");
    pos = t->end;
    prev = t;
  }
  require(pos == data_bytes, source, ": hole in data: bytes [", pos, ", ", data_bytes,
          ") at the end of the data buffer are not covered by any tensor");
}

std::string read_text_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  require(bool(in), p.string(), ": cannot open for reading");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  require(!in.bad(), p.string(), ": read error");
  return text;
}

}  // namespace

// ---- tensor_info / dtype names ------------------------------------------------------------------

bool tensor_info::supported() const noexcept {
  const dtype_entry* d = find_dtype(dtype_name);
  return d != nullptr && d->kvc_type.has_value();
}

std::int64_t tensor_info::numel() const noexcept {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

std::string_view safetensors_dtype_name(kvc::dtype t) noexcept {
  switch (t) {
    case kvc::dtype::f32: return "F32";
    case kvc::dtype::bf16: return "BF16";
    case kvc::dtype::f16: return "F16";
  }
  return "?";
}

std::optional<std::uint32_t> safetensors_dtype_bits(std::string_view name) noexcept {
  const dtype_entry* d = find_dtype(name);
  if (d == nullptr) return std::nullopt;
  return d->bits;
}

// ---- parsing --------------------------------------------------------------------------------------

safetensors_header parse_safetensors_header_full(std::string_view header_json,
                                                 std::uint64_t data_bytes,
                                                 std::string_view source) {
  require(!header_json.empty(), source, ": header is empty (expected a JSON object)");
  require(header_json.front() == '{', source,
          ": header must be a JSON object starting with '{', got byte ",
          int(static_cast<unsigned char>(header_json.front())));
  const json root = parse_json_strict(header_json, source, "header");
  require(root.is_object(), source, ": header must be a JSON object, got ", root.type_name());

  safetensors_header h;
  h.tensors.reserve(root.size());
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") h.metadata = parse_metadata(value, source);
    else h.tensors.push_back(parse_entry(key, value, data_bytes, source));
  }
  check_coverage(h.tensors, data_bytes, source);
  return h;
}

std::vector<tensor_info> parse_safetensors_header(std::string_view header_json,
                                                  std::uint64_t data_bytes,
                                                  std::string_view source) {
  return parse_safetensors_header_full(header_json, data_bytes, source).tensors;
}

safetensors_header parse_safetensors_bytes(std::span<const std::byte> file_bytes,
                                           std::string_view source) {
  const std::uint64_t size = file_bytes.size();
  require(size >= 8, source, ": file is too small (", size,
          " bytes) to hold the 8-byte header length (truncated?)");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::uint64_t(file_bytes[std::size_t(i)]);
  require(n <= max_safetensors_header_bytes, source, ": header length ", n,
          " exceeds the limit of ", max_safetensors_header_bytes, " bytes");
  require(n <= size - 8, source, ": header length ", n, " is larger than the ", size - 8,
          " bytes that follow it in the file (truncated?)");
  const std::string_view text(reinterpret_cast<const char*>(file_bytes.data()) + 8,
                              std::size_t(n));
  safetensors_header h = parse_safetensors_header_full(text, size - 8 - n, source);
  h.header_bytes = n;
  h.data_offset = 8 + n;
  return h;
}

// ---- tensor_ref ----------------------------------------------------------------------------------

kvc::dtype tensor_ref::type() const {
  if (!info->supported())
    fail(file, file.empty() ? "" : ": ", "tensor '", info->name, "' has dtype ", info->dtype_name,
         ", which kvc does not support (expected BF16, F16 or F32)");
  return info->type;
}

void tensor_ref::check_as(kvc::dtype want, std::size_t align) const {
  const kvc::dtype have = type();
  require(have == want, file, file.empty() ? "" : ": ", "tensor '", info->name, "' has dtype ",
          info->dtype_name, ", requested as ", kvc::dtype_name(want));
  require(reinterpret_cast<std::uintptr_t>(data) % align == 0, file, file.empty() ? "" : ": ",
          "tensor '", info->name, "' data is not ", align,
          "-byte aligned in the file; use to_float() to copy it");
}

std::vector<float> tensor_ref::to_float() const {
  const kvc::dtype t = type();
  std::vector<float> out(static_cast<std::size_t>(numel()));
  kvc::visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    for (std::size_t i = 0; i < out.size(); ++i) {
      T x;
      std::memcpy(&x, data + i * sizeof(T), sizeof(T));
      out[i] = kvc::to_float(x);
    }
  });
  return out;
}

// ---- safetensors_file ------------------------------------------------------------------------------

struct safetensors_file::state {
  std::filesystem::path path;
  std::string path_text;
  std::unique_ptr<detail::mapped_file> file;
  safetensors_header header;
  std::map<std::string, std::size_t, std::less<>> index;
};

safetensors_file::safetensors_file(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
safetensors_file::safetensors_file(safetensors_file&&) noexcept = default;
safetensors_file& safetensors_file::operator=(safetensors_file&&) noexcept = default;
safetensors_file::~safetensors_file() = default;

safetensors_file safetensors_file::open(const std::filesystem::path& path) {
  auto s = std::make_unique<state>();
  s->path = path;
  s->path_text = path.string();
  const std::string& name = s->path_text;

  s->file = std::make_unique<detail::mapped_file>(name);

  s->header = parse_safetensors_bytes(
      s->file->bytes(), name);  // throws: ~state unmaps
  for (std::size_t i = 0; i < s->header.tensors.size(); ++i)
    s->index.emplace(s->header.tensors[i].name, i);
  return safetensors_file(std::move(s));
}

const std::vector<tensor_info>& safetensors_file::tensors() const noexcept {
  return state_->header.tensors;
}

const tensor_info* safetensors_file::find(std::string_view name) const {
  const auto it = state_->index.find(name);
  return it == state_->index.end() ? nullptr : &state_->header.tensors[it->second];
}

tensor_ref safetensors_file::ref(const tensor_info& info) const noexcept {
  const auto* base = state_->file->data() + state_->header.data_offset;
  return tensor_ref{&info, base + info.begin, state_->path_text};
}

tensor_ref safetensors_file::at(std::string_view name) const {
  const tensor_info* t = find(name);
  require(t != nullptr, state_->path_text, ": no tensor named '", name, "' (file has ",
          state_->header.tensors.size(), " tensors)");
  return ref(*t);
}

std::map<std::string, std::string> safetensors_file::metadata() const {
  return state_->header.metadata;
}

const std::filesystem::path& safetensors_file::path() const noexcept { return state_->path; }

std::size_t safetensors_file::file_bytes() const noexcept { return state_->file->size(); }

// ---- checkpoint ---------------------------------------------------------------------------------------

checkpoint checkpoint::open(const std::filesystem::path& dir_or_file) {
  namespace fs = std::filesystem;
  checkpoint c;
  c.path_ = dir_or_file;
  const std::string where = dir_or_file.string();
  std::error_code ec;
  require(fs::exists(dir_or_file, ec), where, ": checkpoint path does not exist");

  fs::path index_path;
  fs::path single_path;
  if (fs::is_directory(dir_or_file, ec)) {
    if (fs::exists(dir_or_file / "model.safetensors.index.json", ec))
      index_path = dir_or_file / "model.safetensors.index.json";
    else if (fs::exists(dir_or_file / "model.safetensors", ec))
      single_path = dir_or_file / "model.safetensors";
    else
      fail(where, ": directory has neither model.safetensors.index.json nor model.safetensors");
  } else {
    const std::string fname = dir_or_file.filename().string();
    const std::string_view suffix = ".index.json";
    if (fname.size() >= suffix.size() && fname.ends_with(suffix)) index_path = dir_or_file;
    else single_path = dir_or_file;
  }

  if (!single_path.empty()) {
    c.files_.push_back(safetensors_file::open(single_path));
  } else {
    const std::string index_name = index_path.string();
    const fs::path dir = index_path.parent_path();
    const json root = parse_json_strict(read_text_file(index_path), index_name, "index");
    require(root.is_object(), index_name, ": index must be a JSON object, got ", root.type_name());
    const auto wm = root.find("weight_map");
    require(wm != root.end(), index_name, ": missing 'weight_map'");
    require(wm->is_object(), index_name, ": 'weight_map' must be an object, got ",
            wm->type_name());

    // Open each distinct shard once, in order of first mention.
    std::map<std::string, std::size_t> shard_index;
    std::vector<std::pair<std::string, std::string>> listed;  // (tensor, shard)
    for (const auto& [tensor, shard_json] : wm->items()) {
      require(shard_json.is_string(), index_name, ": weight_map entry for tensor '", tensor,
              "' must be a string (a shard file name), got ", shard_json.type_name());
      const std::string shard = shard_json.get<std::string>();
      require(!shard.empty() && shard != "." && shard != ".." &&
                  shard.find('/') == std::string::npos && shard.find('\\') == std::string::npos,
              index_name, ": weight_map entry for tensor '", tensor, "': '", shard,
              "' is not a plain shard file name");
      listed.emplace_back(tensor, shard);
      if (shard_index.count(shard)) continue;
      const fs::path shard_path = dir / shard;
      require(fs::exists(shard_path, ec), index_name, ": shard '", shard, "' (listed for tensor '",
              tensor, "') does not exist in ", dir.string());
      shard_index.emplace(shard, c.files_.size());
      c.files_.push_back(safetensors_file::open(shard_path));
    }

    for (const auto& [tensor, shard] : listed) {
      const safetensors_file& f = c.files_[shard_index.at(shard)];
      if (f.find(tensor) == nullptr)
        fail(index_name, ": tensor '", tensor, "' is listed under shard '", shard,
             "' but that shard has no such tensor");
    }
  }

  for (std::size_t fi = 0; fi < c.files_.size(); ++fi) {
    const auto& tensors = c.files_[fi].tensors();
    for (std::size_t ti = 0; ti < tensors.size(); ++ti) {
      const auto [it, inserted] = c.index_.try_emplace(tensors[ti].name, fi, ti);
      if (!inserted)
        fail(where, ": tensor '", tensors[ti].name, "' appears in two shards: ",
             c.files_[it->second.first].path().filename().string(), " and ",
             c.files_[fi].path().filename().string());
    }
  }
  return c;
}

std::optional<tensor_ref> checkpoint::find(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  const safetensors_file& f = files_[it->second.first];
  return f.ref(f.tensors()[it->second.second]);
}

tensor_ref checkpoint::at(std::string_view name) const {
  auto r = find(name);
  if (!r)
    fail("tensor '", name, "' not found in checkpoint ", path_.string(), " (", index_.size(),
         " tensors in ", files_.size(), " file", files_.size() == 1 ? "" : "s", ")");
  return *r;
}

std::vector<std::string> checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, where] : index_) out.push_back(name);
  return out;
}

}  // namespace kvc::io
