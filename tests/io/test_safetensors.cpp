// Round trips through write_safetensors / safetensors_file: values, dtypes, shapes, metadata.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "io/io_test_files.hpp"
#include "kvc/io/safetensors.hpp"
#include "kvc/io/safetensors_writer.hpp"

using namespace kvc::io;
using Catch::Contains;
using kvc::test::bytes_of;
using kvc::test::temp_dir;

namespace {

// Deterministic, varied values (not a simple ramp) so misplaced bytes are caught.
std::vector<float> sample_values(std::size_t n, float scale) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.7f * float(i) + 0.3f) + float(i % 3);
  return v;
}

struct fixture {
  std::vector<float> f32 = sample_values(6, 2.5f);  // [2, 3]
  std::vector<kvc::bf16> bf16_vals;                  // [4]
  std::vector<kvc::f16> f16_vals;                    // [2, 2]
  std::vector<float> scalar{-3.25f};                 // []
  std::vector<kvc::bf16> empty;                      // [0, 5]
  std::vector<std::int8_t> i8{-7, 0, 42};            // [3]
  std::vector<tensor_to_write> tensors;

  fixture() {
    for (float x : sample_values(4, 10.f)) bf16_vals.push_back(kvc::to_bf16(x));
    for (float x : sample_values(4, 0.5f)) f16_vals.push_back(kvc::to_f16(x));
    tensors = {
        {"model.layers.0.self_attn.q_proj.weight", "F32", {2, 3}, bytes_of(f32)},
        {"b16", "BF16", {4}, bytes_of(bf16_vals)},
        {"h16", "F16", {2, 2}, bytes_of(f16_vals)},
        {"scalar", "F32", {}, bytes_of(scalar)},
        {"empty", "BF16", {0, 5}, bytes_of(empty)},
        {"int8", "I8", {3}, bytes_of(i8)},
    };
  }
};

std::uint64_t read_u64_le(const std::vector<std::byte>& b) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::uint64_t(b.at(std::size_t(i)));
  return n;
}

}  // namespace

TEST_CASE("safetensors round trip keeps values, dtypes, shapes and metadata", "[io][safetensors]") {
  temp_dir dir;
  fixture fx;
  const auto path = dir / "model.safetensors";
  write_safetensors(path, fx.tensors, {{"format", "pt"}, {"note", "kvc test"}});

  const auto raw = kvc::test::read_bytes(path);
  const std::uint64_t n = read_u64_le(raw);
  CHECK(n % 8 == 0);
  CHECK(char(raw.at(8)) == '{');
  std::size_t data_total = 0;
  for (const auto& t : fx.tensors) data_total += t.data.size();
  CHECK(raw.size() == 8 + n + data_total);

  const auto f = safetensors_file::open(path);
  CHECK(f.file_bytes() == raw.size());
  CHECK(f.tensors().size() == fx.tensors.size());
  CHECK(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"note", "kvc test"}});

  // Each tensor's bytes in the map equal what was written, and dtype/shape round trip.
  for (const auto& w : fx.tensors) {
    INFO(w.name);
    const tensor_info* info = f.find(w.name);
    REQUIRE(info != nullptr);
    CHECK(info->dtype_name == w.dtype);
    CHECK(info->shape == w.shape);
    const tensor_ref r = f.at(w.name);
    CHECK(r.info == info);
    REQUIRE(r.bytes() == w.data.size());
    if (r.bytes() == 0) continue;  // an empty tensor: nothing to compare (memcmp takes no null)
    CHECK(std::memcmp(r.data, w.data.data(), r.bytes()) == 0);
    // Zero copy: the data points into the mapped file at its header-declared offset.
    CHECK(std::memcmp(r.data, raw.data() + 8 + n + info->begin, r.bytes()) == 0);
  }

  const tensor_ref q = f.at("model.layers.0.self_attn.q_proj.weight");
  CHECK(q.type() == kvc::dtype::f32);
  CHECK(q.numel() == 6);
  const auto qs = q.as<float>();
  REQUIRE(qs.size() == fx.f32.size());
  for (std::size_t i = 0; i < qs.size(); ++i) CHECK(qs[i] == fx.f32[i]);

  const tensor_ref b = f.at("b16");
  CHECK(b.type() == kvc::dtype::bf16);
  const auto bs = b.as<kvc::bf16>();
  const auto bf = b.to_float();
  REQUIRE(bs.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(bs[i].bits == fx.bf16_vals[i].bits);
    CHECK(bf[i] == kvc::to_float(fx.bf16_vals[i]));
  }

  const tensor_ref h = f.at("h16");
  CHECK(h.type() == kvc::dtype::f16);
  CHECK(h.info->shape == std::vector<std::int64_t>{2, 2});
  const auto hf = h.to_float();
  for (std::size_t i = 0; i < 4; ++i) CHECK(hf[i] == kvc::to_float(fx.f16_vals[i]));

  const tensor_ref s = f.at("scalar");
  CHECK(s.info->shape.empty());
  CHECK(s.numel() == 1);
  CHECK(s.as<float>()[0] == -3.25f);

  const tensor_ref e = f.at("empty");
  CHECK(e.numel() == 0);
  CHECK(e.bytes() == 0);
  CHECK(e.as<kvc::bf16>().empty());
  CHECK(e.info->shape == std::vector<std::int64_t>{0, 5});
}

TEST_CASE("unsupported dtypes are parsed but refused as kvc data", "[io][safetensors]") {
  temp_dir dir;
  fixture fx;
  const auto path = dir / "x.safetensors";
  write_safetensors(path, fx.tensors);
  const auto f = safetensors_file::open(path);

  const tensor_ref r = f.at("int8");
  CHECK_FALSE(r.info->supported());
  CHECK(r.info->element_bits == 8);
  CHECK(r.bytes() == 3);
  CHECK(std::memcmp(r.data, fx.i8.data(), 3) == 0);  // raw bytes are still reachable
  CHECK_THROWS_WITH(r.type(), Contains("'int8'") && Contains("I8") && Contains("not support"));
  CHECK_THROWS_WITH(r.as<float>(), Contains("I8") && Contains("not support"));
  CHECK_THROWS_WITH(r.to_float(), Contains("I8"));

  CHECK(f.at("b16").info->supported());
  CHECK_THROWS_WITH(f.at("b16").as<float>(), Contains("'b16'") && Contains("requested as f32"));
  CHECK_THROWS_WITH(f.at("model.layers.0.self_attn.q_proj.weight").as<kvc::f16>(),
                    Contains("F32") && Contains("requested as f16"));
}

TEST_CASE("misaligned f32 data is refused by as<> but converts with to_float", "[io][safetensors]") {
  temp_dir dir;
  const std::vector<kvc::bf16> one{kvc::to_bf16(1.5f)};
  const std::vector<float> two{3.0f, -4.5f};
  const std::vector<tensor_to_write> ts{{"a", "BF16", {1}, bytes_of(one)},
                                        {"b", "F32", {2}, bytes_of(two)}};
  const auto path = dir / "m.safetensors";
  write_safetensors(path, ts);
  const auto f = safetensors_file::open(path);
  const tensor_ref b = f.at("b");
  CHECK(b.info->begin == 2);
  CHECK_THROWS_WITH(b.as<float>(), Contains("'b'") && Contains("aligned"));
  CHECK(b.to_float() == two);
}

TEST_CASE("safetensors_file is movable and refs survive the move", "[io][safetensors]") {
  temp_dir dir;
  fixture fx;
  const auto path = dir / "mv.safetensors";
  write_safetensors(path, fx.tensors);
  auto f = safetensors_file::open(path);
  const tensor_ref before = f.at("scalar");
  safetensors_file g = std::move(f);
  CHECK(g.at("scalar").data == before.data);
  CHECK(before.as<float>()[0] == -3.25f);
  auto h = safetensors_file::open(path);
  h = std::move(g);
  CHECK(h.at("scalar").as<float>()[0] == -3.25f);
}

TEST_CASE("in-memory parse agrees with the file reader", "[io][safetensors]") {
  fixture fx;
  const auto bytes = serialize_safetensors(fx.tensors, {{"format", "pt"}});
  const safetensors_header h = parse_safetensors_bytes(bytes, "mem");
  CHECK(h.header_bytes % 8 == 0);
  CHECK(h.data_offset == 8 + h.header_bytes);
  CHECK(h.metadata.at("format") == "pt");
  REQUIRE(h.tensors.size() == fx.tensors.size());
  std::uint64_t total = 0;
  for (const auto& t : h.tensors) total += t.bytes();
  CHECK(total == bytes.size() - h.data_offset);

  // parse_safetensors_header on the same JSON text gives the same tensors.
  const std::string_view json(reinterpret_cast<const char*>(bytes.data()) + 8, h.header_bytes);
  const auto infos = parse_safetensors_header(json, total);
  REQUIRE(infos.size() == h.tensors.size());
  for (std::size_t i = 0; i < infos.size(); ++i) {
    CHECK(infos[i].name == h.tensors[i].name);
    CHECK(infos[i].begin == h.tensors[i].begin);
    CHECK(infos[i].end == h.tensors[i].end);
  }
  // The JSON text alone, against a different data size, is rejected.
  CHECK_THROWS_AS(parse_safetensors_header(json, total + 1), kvc::error);
}

TEST_CASE("an empty file with only a header is valid", "[io][safetensors]") {
  temp_dir dir;
  const auto path = dir / "empty.safetensors";
  write_safetensors(path, std::span<const tensor_to_write>{});
  const auto f = safetensors_file::open(path);
  CHECK(f.tensors().empty());
  CHECK(f.metadata().empty());
  CHECK(f.find("x") == nullptr);
}

TEST_CASE("writer refuses inconsistent tensors", "[io][safetensors]") {
  const std::vector<float> v{1.f, 2.f};
  const std::vector<tensor_to_write> wrong_size{{"a", "F32", {3}, bytes_of(v)}};
  CHECK_THROWS_WITH(serialize_safetensors(wrong_size), Contains("'a'") && Contains("do not match"));
  const std::vector<tensor_to_write> dup{{"a", "F32", {2}, bytes_of(v)},
                                         {"a", "F32", {2}, bytes_of(v)}};
  CHECK_THROWS_WITH(serialize_safetensors(dup), Contains("duplicate tensor name 'a'"));
  const std::vector<tensor_to_write> bad_dtype{{"a", "F33", {2}, bytes_of(v)}};
  CHECK_THROWS_WITH(serialize_safetensors(bad_dtype), Contains("unknown dtype 'F33'"));
}

TEST_CASE("dtype names and sizes", "[io][safetensors]") {
  CHECK(std::string(safetensors_dtype_name(kvc::dtype::bf16)) == "BF16");
  CHECK(std::string(safetensors_dtype_name(kvc::dtype::f16)) == "F16");
  CHECK(std::string(safetensors_dtype_name(kvc::dtype::f32)) == "F32");
  CHECK(safetensors_dtype_bits("F4") == 4u);
  CHECK(safetensors_dtype_bits("F64") == 64u);
  CHECK(safetensors_dtype_bits("F8_E4M3") == 8u);
  CHECK_FALSE(safetensors_dtype_bits("bf16").has_value());
}
