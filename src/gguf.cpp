// GGUF header validation, mmap-backed GGUF files and scalar dequantization of ggml block types.
#include "kvc/io/gguf.hpp"


#include <algorithm>
#include <memory>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "kvc/core/dtype.hpp"
#include "mapped_file.hpp"

namespace kvc::io {
namespace {

using kvc::detail::fail;
using kvc::detail::require;

constexpr std::uint32_t max_dims = 4;          // GGML_MAX_DIMS
constexpr int max_array_depth = 4;             // nesting of arrays of arrays
constexpr std::uint64_t max_string_bytes = std::uint64_t(1) << 30;

/// Bounds-checked little-endian reader over the file bytes.
struct cursor {
  std::span<const std::byte> bytes;
  std::uint64_t pos = 0;
  std::string_view source;

  std::uint64_t left() const { return bytes.size() - pos; }
  void need(std::uint64_t n, std::string_view what) const {
    if (n > left())
      fail(source, ": truncated at byte ", pos, " reading ", what, " (need ", n, " bytes, ", left(), " left)");
  }
  template <class T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string read_string(std::string_view what) {
    const auto n = read<std::uint64_t>(what);
    require(n <= max_string_bytes, source, ": ", what, ": string length ", n, " is implausible");
    need(n, what);
    std::string s(reinterpret_cast<const char*>(bytes.data() + pos), std::size_t(n));
    pos += n;
    return s;
  }
};

/// Smallest encoded size of one value of type t (arrays: type + count).
std::uint64_t min_value_bytes(gguf_value_type t) {
  switch (t) {
    case gguf_value_type::u8: case gguf_value_type::i8: case gguf_value_type::boolean: return 1;
    case gguf_value_type::u16: case gguf_value_type::i16: return 2;
    case gguf_value_type::u32: case gguf_value_type::i32: case gguf_value_type::f32: return 4;
    case gguf_value_type::u64: case gguf_value_type::i64: case gguf_value_type::f64: return 8;
    case gguf_value_type::string: return 8;
    case gguf_value_type::array: return 12;
  }
  return 1;
}

bool known_value_type(std::uint32_t t) { return t <= 12; }

gguf_value read_value(cursor& c, gguf_value_type type, const std::string& key, int depth) {
  gguf_value v;
  v.type = type;
  switch (type) {
    case gguf_value_type::u8: v.u = c.read<std::uint8_t>(key); break;
    case gguf_value_type::i8: v.i = c.read<std::int8_t>(key); break;
    case gguf_value_type::u16: v.u = c.read<std::uint16_t>(key); break;
    case gguf_value_type::i16: v.i = c.read<std::int16_t>(key); break;
    case gguf_value_type::u32: v.u = c.read<std::uint32_t>(key); break;
    case gguf_value_type::i32: v.i = c.read<std::int32_t>(key); break;
    case gguf_value_type::u64: v.u = c.read<std::uint64_t>(key); break;
    case gguf_value_type::i64: v.i = c.read<std::int64_t>(key); break;
    case gguf_value_type::f32: v.f = c.read<float>(key); break;
    case gguf_value_type::f64: v.f = c.read<double>(key); break;
    case gguf_value_type::boolean: {
      const auto b = c.read<std::uint8_t>(key);
      require(b <= 1, c.source, ": metadata '", key, "': bool byte ", int(b), " is not 0 or 1");
      v.u = b;
      break;
    }
    case gguf_value_type::string: v.s = c.read_string(key); break;
    case gguf_value_type::array: {
      require(depth < max_array_depth, c.source, ": metadata '", key, "': arrays nested deeper than ",
              max_array_depth);
      const auto et = c.read<std::uint32_t>(key);
      require(known_value_type(et), c.source, ": metadata '", key, "': unknown array element type ", et);
      v.element_type = gguf_value_type(et);
      const auto n = c.read<std::uint64_t>(key);
      require(n <= c.left() / min_value_bytes(v.element_type), c.source, ": metadata '", key,
              "': array of ", n, " elements does not fit in the ", c.left(), " bytes left");
      v.items.reserve(std::size_t(n));
      for (std::uint64_t k = 0; k < n; ++k) v.items.push_back(read_value(c, v.element_type, key, depth + 1));
      break;
    }
  }
  return v;
}

std::string_view what_or(std::string_view what) { return what.empty() ? "value" : what; }

float f16_to_f32(const std::byte* p) {
  std::uint16_t b;
  std::memcpy(&b, p, 2);
  return kvc::to_float(kvc::f16{b});
}

void scale_min_k4(int j, const std::uint8_t* q, std::uint8_t& d, std::uint8_t& m) {
  if (j < 4) {
    d = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    d = std::uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = std::uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace

// ---- values ------------------------------------------------------------------------------------

std::string_view gguf_value_type_name(gguf_value_type t) noexcept {
  switch (t) {
    case gguf_value_type::u8: return "u8";
    case gguf_value_type::i8: return "i8";
    case gguf_value_type::u16: return "u16";
    case gguf_value_type::i16: return "i16";
    case gguf_value_type::u32: return "u32";
    case gguf_value_type::i32: return "i32";
    case gguf_value_type::f32: return "f32";
    case gguf_value_type::boolean: return "bool";
    case gguf_value_type::string: return "string";
    case gguf_value_type::array: return "array";
    case gguf_value_type::u64: return "u64";
    case gguf_value_type::i64: return "i64";
    case gguf_value_type::f64: return "f64";
  }
  return "?";
}

bool gguf_value::is_integer() const noexcept {
  switch (type) {
    case gguf_value_type::u8: case gguf_value_type::i8: case gguf_value_type::u16:
    case gguf_value_type::i16: case gguf_value_type::u32: case gguf_value_type::i32:
    case gguf_value_type::u64: case gguf_value_type::i64: return true;
    default: return false;
  }
}

namespace {
bool is_signed(gguf_value_type t) {
  return t == gguf_value_type::i8 || t == gguf_value_type::i16 || t == gguf_value_type::i32 ||
         t == gguf_value_type::i64;
}
}  // namespace

std::uint64_t gguf_value::to_uint(std::string_view what) const {
  require(is_integer() || type == gguf_value_type::boolean, what_or(what), ": expected an integer, got ",
          gguf_value_type_name(type));
  if (is_signed(type)) {
    require(i >= 0, what_or(what), ": expected a non-negative integer, got ", i);
    return std::uint64_t(i);
  }
  return u;
}

std::int64_t gguf_value::to_int(std::string_view what) const {
  require(is_integer(), what_or(what), ": expected an integer, got ", gguf_value_type_name(type));
  if (is_signed(type)) return i;
  require(u <= std::uint64_t(std::numeric_limits<std::int64_t>::max()), what_or(what), ": ", u,
          " does not fit in int64");
  return std::int64_t(u);
}

double gguf_value::to_double(std::string_view what) const {
  if (type == gguf_value_type::f32 || type == gguf_value_type::f64) return f;
  if (is_integer()) return is_signed(type) ? double(i) : double(u);
  fail(what_or(what), ": expected a number, got ", gguf_value_type_name(type));
}

bool gguf_value::to_bool(std::string_view what) const {
  require(type == gguf_value_type::boolean, what_or(what), ": expected a bool, got ",
          gguf_value_type_name(type));
  return u != 0;
}

const std::string& gguf_value::to_string(std::string_view what) const {
  require(type == gguf_value_type::string, what_or(what), ": expected a string, got ",
          gguf_value_type_name(type));
  return s;
}

// ---- types -------------------------------------------------------------------------------------

std::optional<ggml_type_traits> ggml_traits(std::uint32_t type) noexcept {
  switch (ggml_type(type)) {
    case ggml_type::f32: return ggml_type_traits{"F32", 1, 4, true};
    case ggml_type::f16: return ggml_type_traits{"F16", 1, 2, true};
    case ggml_type::q4_0: return ggml_type_traits{"Q4_0", 32, 18, true};
    case ggml_type::q4_1: return ggml_type_traits{"Q4_1", 32, 20, true};
    case ggml_type::q5_0: return ggml_type_traits{"Q5_0", 32, 22, true};
    case ggml_type::q5_1: return ggml_type_traits{"Q5_1", 32, 24, true};
    case ggml_type::q8_0: return ggml_type_traits{"Q8_0", 32, 34, true};
    case ggml_type::q8_1: return ggml_type_traits{"Q8_1", 32, 40, false};
    case ggml_type::q2_k: return ggml_type_traits{"Q2_K", 256, 84, false};
    case ggml_type::q3_k: return ggml_type_traits{"Q3_K", 256, 110, false};
    case ggml_type::q4_k: return ggml_type_traits{"Q4_K", 256, 144, true};
    case ggml_type::q5_k: return ggml_type_traits{"Q5_K", 256, 176, true};
    case ggml_type::q6_k: return ggml_type_traits{"Q6_K", 256, 210, true};
    case ggml_type::q8_k: return ggml_type_traits{"Q8_K", 256, 292, false};
    case ggml_type::iq2_xxs: return ggml_type_traits{"IQ2_XXS", 256, 66, false};
    case ggml_type::iq2_xs: return ggml_type_traits{"IQ2_XS", 256, 74, false};
    case ggml_type::iq3_xxs: return ggml_type_traits{"IQ3_XXS", 256, 98, false};
    case ggml_type::iq1_s: return ggml_type_traits{"IQ1_S", 256, 50, false};
    case ggml_type::iq4_nl: return ggml_type_traits{"IQ4_NL", 32, 18, false};
    case ggml_type::iq3_s: return ggml_type_traits{"IQ3_S", 256, 110, false};
    case ggml_type::iq2_s: return ggml_type_traits{"IQ2_S", 256, 82, false};
    case ggml_type::iq4_xs: return ggml_type_traits{"IQ4_XS", 256, 136, false};
    case ggml_type::i8: return ggml_type_traits{"I8", 1, 1, true};
    case ggml_type::i16: return ggml_type_traits{"I16", 1, 2, true};
    case ggml_type::i32: return ggml_type_traits{"I32", 1, 4, true};
    case ggml_type::i64: return ggml_type_traits{"I64", 1, 8, false};
    case ggml_type::f64: return ggml_type_traits{"F64", 1, 8, true};
    case ggml_type::iq1_m: return ggml_type_traits{"IQ1_M", 256, 56, false};
    case ggml_type::bf16: return ggml_type_traits{"BF16", 1, 2, true};
    case ggml_type::tq1_0: return ggml_type_traits{"TQ1_0", 256, 54, false};
    case ggml_type::tq2_0: return ggml_type_traits{"TQ2_0", 256, 66, false};
    case ggml_type::mxfp4: return ggml_type_traits{"MXFP4", 32, 17, false};
  }
  return std::nullopt;
}

std::uint64_t gguf_tensor_info::numel() const noexcept {
  std::uint64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

std::vector<std::int64_t> gguf_tensor_info::shape() const {
  return {dims.rbegin(), dims.rend()};
}

const gguf_value* gguf_header::find(std::string_view key) const {
  for (const auto& [k, v] : metadata)
    if (k == key) return &v;
  return nullptr;
}

const gguf_tensor_info* gguf_header::find_tensor(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

// ---- parsing -----------------------------------------------------------------------------------

gguf_header parse_gguf_bytes(std::span<const std::byte> file, std::string_view source) {
  cursor c{file, 0, source};
  gguf_header h;
  c.need(4, "magic");
  require(std::memcmp(file.data(), "GGUF", 4) == 0, source, ": not a GGUF file (bad magic)");
  c.pos = 4;
  h.version = c.read<std::uint32_t>("version");
  require(h.version == 2 || h.version == 3, source, ": unsupported GGUF version ", h.version,
          " (supported: 2, 3)");
  const auto n_tensors = c.read<std::uint64_t>("tensor_count");
  const auto n_kv = c.read<std::uint64_t>("metadata_kv_count");
  // Each key-value needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at
  // least 8 + 4 + 8 + 4 + 8.
  require(n_kv <= c.left() / 13, source, ": metadata_kv_count ", n_kv, " does not fit in the file");

  std::unordered_set<std::string> keys;
  h.metadata.reserve(std::size_t(n_kv));
  for (std::uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.read_string("metadata key");
    require(!key.empty(), source, ": metadata key ", k, " is empty");
    require(keys.insert(key).second, source, ": duplicate metadata key '", key, "'");
    const auto type = c.read<std::uint32_t>(key);
    require(known_value_type(type), source, ": metadata '", key, "': unknown value type ", type);
    gguf_value v = read_value(c, gguf_value_type(type), key, 0);
    h.metadata.emplace_back(std::move(key), std::move(v));
  }
  if (const gguf_value* a = h.find("general.alignment")) {
    require(a->type == gguf_value_type::u32, source, ": general.alignment must be u32, got ",
            gguf_value_type_name(a->type));
    require(a->u != 0 && std::has_single_bit(a->u), source, ": general.alignment ", a->u,
            " is not a power of two");
    h.alignment = a->u;
  }

  require(n_tensors <= c.left() / 32, source, ": tensor_count ", n_tensors, " does not fit in the file");
  std::unordered_set<std::string> names;
  h.tensors.reserve(std::size_t(n_tensors));
  for (std::uint64_t t = 0; t < n_tensors; ++t) {
    gguf_tensor_info info;
    info.name = c.read_string("tensor name");
    const std::string& name = info.name;
    require(names.insert(name).second, source, ": duplicate tensor name '", name, "'");
    const auto n_dims = c.read<std::uint32_t>(name);
    require(n_dims >= 1 && n_dims <= max_dims, source, ": tensor '", name, "': ", n_dims,
            " dimensions (expected 1 to ", max_dims, ")");
    std::uint64_t numel = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = c.read<std::uint64_t>(name);
      require(dim > 0 && dim <= std::uint64_t(std::numeric_limits<std::int64_t>::max()), source,
              ": tensor '", name, "': dimension ", d, " is ", dim);
      require(numel <= std::uint64_t(std::numeric_limits<std::int64_t>::max()) / dim, source,
              ": tensor '", name, "': element count overflows");
      numel *= dim;
      info.dims.push_back(dim);
    }
    const auto type = c.read<std::uint32_t>(name);
    const auto traits = ggml_traits(type);
    require(traits.has_value(), source, ": tensor '", name, "': unknown ggml type ", type);
    info.type = ggml_type(type);
    require(info.dims[0] % traits->block_size == 0, source, ": tensor '", name, "': first dimension ",
            info.dims[0], " is not a multiple of the ", traits->name, " block size ", traits->block_size);
    const std::uint64_t blocks = numel / traits->block_size;
    require(blocks <= std::numeric_limits<std::uint64_t>::max() / traits->block_bytes, source,
            ": tensor '", name, "': byte size overflows");
    info.bytes = blocks * traits->block_bytes;
    info.offset = c.read<std::uint64_t>(name);
    require(info.offset % h.alignment == 0, source, ": tensor '", name, "': offset ", info.offset,
            " is not a multiple of the alignment ", h.alignment);
    h.tensors.push_back(std::move(info));
  }

  // The data section starts at the next multiple of the alignment.
  const std::uint64_t header_end = c.pos;
  h.data_offset = (header_end + h.alignment - 1) / h.alignment * h.alignment;
  require(h.tensors.empty() || h.data_offset <= file.size(), source, ": data section at byte ", h.data_offset, " is past the end of the file (",
          file.size(), " bytes)");
  const std::uint64_t data_bytes = file.size() > h.data_offset ? file.size() - h.data_offset : 0;
  std::vector<std::pair<std::uint64_t, std::size_t>> ranges;  // (offset, tensor index)
  for (std::size_t i = 0; i < h.tensors.size(); ++i) {
    const auto& t = h.tensors[i];
    require(t.offset <= data_bytes && t.bytes <= data_bytes - t.offset, source, ": tensor '", t.name,
            "': data [", t.offset, ", ", t.offset, " + ", t.bytes, ") is outside the data section of ",
            data_bytes, " bytes");
    ranges.emplace_back(t.offset, i);
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t r = 1; r < ranges.size(); ++r) {
    const auto& prev = h.tensors[ranges[r - 1].second];
    const auto& cur = h.tensors[ranges[r].second];
    require(prev.offset + prev.bytes <= cur.offset || prev.bytes == 0 || cur.bytes == 0, source,
            ": tensors '", prev.name, "' and '", cur.name, "' overlap");
  }
  return h;
}

// ---- dequantization ----------------------------------------------------------------------------

void dequantize_row(ggml_type type, const std::byte* src, float* y, std::uint64_t n) {
  const auto traits = ggml_traits(std::uint32_t(type));
  require(traits.has_value() && traits->dequantizable, "dequantize: ggml type ",
          traits ? traits->name : std::string_view("?"), " (", std::uint32_t(type), ") is not supported");
  require(n % traits->block_size == 0, "dequantize: ", n, " elements is not a whole number of ",
          traits->name, " blocks of ", traits->block_size);
  const auto* b = reinterpret_cast<const std::uint8_t*>(src);
  const std::uint64_t nb = n / traits->block_size;
  const std::size_t bs = traits->block_bytes;
  const auto f16at = [](const std::uint8_t* p) { return f16_to_f32(reinterpret_cast<const std::byte*>(p)); };
  switch (type) {
    case ggml_type::f32: std::memcpy(y, src, n * 4); return;
    case ggml_type::f16:
      for (std::uint64_t i = 0; i < n; ++i) y[i] = f16at(b + 2 * i);
      return;
    case ggml_type::bf16:
      for (std::uint64_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, b + 2 * i, 2);
        y[i] = kvc::to_float(kvc::bf16{v});
      }
      return;
    case ggml_type::f64:
      for (std::uint64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, b + 8 * i, 8);
        y[i] = float(v);
      }
      return;
    case ggml_type::i8:
      for (std::uint64_t i = 0; i < n; ++i) y[i] = float(std::int8_t(b[i]));
      return;
    case ggml_type::i16:
      for (std::uint64_t i = 0; i < n; ++i) {
        std::int16_t v;
        std::memcpy(&v, b + 2 * i, 2);
        y[i] = float(v);
      }
      return;
    case ggml_type::i32:
      for (std::uint64_t i = 0; i < n; ++i) {
        std::int32_t v;
        std::memcpy(&v, b + 4 * i, 4);
        y[i] = float(v);
      }
      return;
    case ggml_type::q4_0:
      for (std::uint64_t i = 0; i < nb; ++i, y += 32) {
        const std::uint8_t* p = b + i * bs;
        const float d = f16at(p);
        for (int j = 0; j < 16; ++j) {
          y[j] = float((p[2 + j] & 0x0F) - 8) * d;
          y[j + 16] = float((p[2 + j] >> 4) - 8) * d;
        }
      }
      return;
    case ggml_type::q4_1:
      for (std::uint64_t i = 0; i < nb; ++i, y += 32) {
        const std::uint8_t* p = b + i * bs;
        const float d = f16at(p), m = f16at(p + 2);
        for (int j = 0; j < 16; ++j) {
          y[j] = float(p[4 + j] & 0x0F) * d + m;
          y[j + 16] = float(p[4 + j] >> 4) * d + m;
        }
      }
      return;
    case ggml_type::q5_0:
    case ggml_type::q5_1:
      for (std::uint64_t i = 0; i < nb; ++i, y += 32) {
        const std::uint8_t* p = b + i * bs;
        const bool has_min = type == ggml_type::q5_1;
        const float d = f16at(p), m = has_min ? f16at(p + 2) : 0.0f;
        const std::uint8_t* qhp = p + (has_min ? 4 : 2);
        std::uint32_t qh;
        std::memcpy(&qh, qhp, 4);
        const std::uint8_t* qs = qhp + 4;
        for (int j = 0; j < 16; ++j) {
          const int xh0 = int(((qh >> j) << 4) & 0x10);
          const int xh1 = int((qh >> (j + 12)) & 0x10);
          const int x0 = (qs[j] & 0x0F) | xh0, x1 = (qs[j] >> 4) | xh1;
          if (has_min) {
            y[j] = float(x0) * d + m;
            y[j + 16] = float(x1) * d + m;
          } else {
            y[j] = float(x0 - 16) * d;
            y[j + 16] = float(x1 - 16) * d;
          }
        }
      }
      return;
    case ggml_type::q8_0:
      for (std::uint64_t i = 0; i < nb; ++i, y += 32) {
        const std::uint8_t* p = b + i * bs;
        const float d = f16at(p);
        for (int j = 0; j < 32; ++j) y[j] = float(std::int8_t(p[2 + j])) * d;
      }
      return;
    case ggml_type::q4_k:
    case ggml_type::q5_k:
      for (std::uint64_t i = 0; i < nb; ++i) {
        const std::uint8_t* p = b + i * bs;
        const float d = f16at(p), dmin = f16at(p + 2);
        const std::uint8_t* scales = p + 4;
        const bool five = type == ggml_type::q5_k;
        const std::uint8_t* qh = p + 16;
        const std::uint8_t* q = p + (five ? 48 : 16);
        std::uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
          std::uint8_t sc, mn;
          scale_min_k4(is, scales, sc, mn);
          const float d1 = d * float(sc), m1 = dmin * float(mn);
          scale_min_k4(is + 1, scales, sc, mn);
          const float d2 = d * float(sc), m2 = dmin * float(mn);
          for (int l = 0; l < 32; ++l)
            *y++ = d1 * float((q[l] & 0xF) + (five && (qh[l] & u1) ? 16 : 0)) - m1;
          for (int l = 0; l < 32; ++l)
            *y++ = d2 * float((q[l] >> 4) + (five && (qh[l] & u2) ? 16 : 0)) - m2;
          u1 = std::uint8_t(u1 << 2);
          u2 = std::uint8_t(u2 << 2);
        }
      }
      return;
    case ggml_type::q6_k:
      for (std::uint64_t i = 0; i < nb; ++i) {
        const std::uint8_t* p = b + i * bs;
        const std::uint8_t* ql = p;
        const std::uint8_t* qh = p + 128;
        const auto* sc = reinterpret_cast<const std::int8_t*>(p + 192);
        const float d = f16at(p + 208);
        for (int n128 = 0; n128 < 256; n128 += 128) {
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * float(sc[is + 0]) * float(q1);
            y[l + 32] = d * float(sc[is + 2]) * float(q2);
            y[l + 64] = d * float(sc[is + 4]) * float(q3);
            y[l + 96] = d * float(sc[is + 6]) * float(q4);
          }
          y += 128;
          ql += 64;
          qh += 32;
          sc += 8;
        }
      }
      return;
    default: break;
  }
  fail("dequantize: ggml type ", traits->name, " is not supported");
}

// ---- gguf_file ---------------------------------------------------------------------------------

struct gguf_file::state {
  std::filesystem::path path;
  std::string path_text;
  std::unique_ptr<detail::mapped_file> file;
  gguf_header header;
};

gguf_file::gguf_file(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
gguf_file::gguf_file(gguf_file&&) noexcept = default;
gguf_file& gguf_file::operator=(gguf_file&&) noexcept = default;
gguf_file::~gguf_file() = default;

gguf_file gguf_file::open(const std::filesystem::path& path) {
  auto s = std::make_unique<state>();
  s->path = path;
  s->path_text = path.string();
  const std::string& name = s->path_text;
  s->file = std::make_unique<detail::mapped_file>(name);
  s->header = parse_gguf_bytes(s->file->bytes(), name);
  return gguf_file(std::move(s));
}

const gguf_header& gguf_file::header() const noexcept { return state_->header; }
const std::filesystem::path& gguf_file::path() const noexcept { return state_->path; }

const gguf_value& gguf_file::at(std::string_view key) const {
  const gguf_value* v = find(key);
  require(v != nullptr, state_->path_text, ": no metadata key '", key, "'");
  return *v;
}

const gguf_tensor_info& gguf_file::tensor(std::string_view name) const {
  const gguf_tensor_info* t = header().find_tensor(name);
  require(t != nullptr, state_->path_text, ": no tensor named '", name, "' (file has ",
          header().tensors.size(), " tensors)");
  return *t;
}

std::span<const std::byte> gguf_file::data(const gguf_tensor_info& info) const {
  const auto* base = state_->file->data() + state_->header.data_offset;
  return {base + info.offset, std::size_t(info.bytes)};
}

std::vector<float> gguf_file::to_float(const gguf_tensor_info& info) const {
  std::vector<float> out(std::size_t(info.numel()));
  try {
    dequantize_row(info.type, data(info).data(), out.data(), info.numel());
  } catch (const kvc::error& e) {
    fail(state_->path_text, ": tensor '", info.name, "': ", e.what());
  }
  return out;
}

}  // namespace kvc::io
