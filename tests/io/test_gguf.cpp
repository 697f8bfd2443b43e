// kvc::io GGUF reader: metadata of every type, dequantization against the gguf Python package's
// values (committed fixture), and malformed files built byte by byte.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kvc/io/gguf.hpp"
#include "support/gguf_builder.hpp"

namespace {

using kvc::test::gguf_builder;

using kvc::io::ggml_type;
using kvc::io::gguf_value_type;

const std::filesystem::path fixture = std::filesystem::path(KVC_TEST_DATA_DIR) / "gguf" / "types.gguf";


/// A valid file: one kv, two f32 tensors of 4 elements.
gguf_builder valid_file() {
  gguf_builder g;
  g.header(3, 2, 1);
  g.kv_u32("llama.block_count", 7);
  g.tensor_info("a", {4}, 0, 0);
  g.tensor_info("b", {2, 2}, 0, 32);
  g.pad();
  g.data(32 + 16, std::byte{0});
  return g;
}

void require_error(const gguf_builder& g, const std::string& needle) {
  try {
    (void)g.parse();
    FAIL("no error, expected one containing '" << needle << "'");
  } catch (const kvc::error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("built.gguf") == 0);
    CHECK(what.find(needle) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("gguf fixture: metadata of every value type") {
  const auto f = kvc::io::gguf_file::open(fixture);
  CHECK(f.header().version == 3);
  CHECK(f.at("general.architecture").to_string() == "llama");
  CHECK(f.at("test.u8").to_uint() == 200);
  CHECK(f.at("test.i8").to_int() == -100);
  CHECK(f.at("test.u16").to_uint() == 60000);
  CHECK(f.at("test.i16").to_int() == -30000);
  CHECK(f.at("test.u32").type == gguf_value_type::u32);
  CHECK(f.at("test.u32").to_uint() == 4000000000u);
  CHECK(f.at("test.i32").to_int() == -2000000000);
  CHECK(f.at("test.u64").to_uint() == (std::uint64_t(1) << 63) + 5);
  CHECK_THROWS_AS(f.at("test.u64").to_int("test.u64"), kvc::error);
  CHECK(f.at("test.i64").to_int() == -(std::int64_t(1) << 62));
  CHECK_THROWS_AS(f.at("test.i64").to_uint(), kvc::error);
  CHECK(f.at("test.f32").to_double() == 0.25);
  CHECK(f.at("test.f64").to_double() == -1.5e300);
  CHECK(f.at("test.bool").to_bool());
  CHECK(f.at("test.string").to_string() == "h\xc3\xa9llo GGUF");
  CHECK_THROWS_AS(f.at("test.string").to_uint("test.string"), kvc::error);
  const auto& strings = f.at("test.strings");
  REQUIRE(strings.type == gguf_value_type::array);
  CHECK(strings.element_type == gguf_value_type::string);
  REQUIRE(strings.items.size() == 3);
  CHECK(strings.items[1].to_string() == "bc");
  CHECK(strings.items[2].to_string().empty());
  const auto& ints = f.at("test.ints");
  REQUIRE(ints.items.size() == 3);
  CHECK(ints.items[1].to_int() == -2);
  const auto& nested = f.at("test.nested");
  CHECK(nested.element_type == gguf_value_type::array);
  REQUIRE(nested.items.size() == 2);
  REQUIRE(nested.items[0].items.size() == 2);
  CHECK(nested.items[0].items[1].to_int() == 2);
  CHECK(nested.items[1].items[0].to_int() == 3);
  CHECK(f.find("no.such.key") == nullptr);
  try {
    (void)f.at("no.such.key");
    FAIL("expected an error");
  } catch (const kvc::error& e) {
    CHECK(std::string(e.what()).find("types.gguf") != std::string::npos);
    CHECK(std::string(e.what()).find("no.such.key") != std::string::npos);
  }
}

TEST_CASE("gguf fixture: tensor infos, shapes and alignment") {
  const auto f = kvc::io::gguf_file::open(fixture);
  const auto& t = f.tensor("vec3d");
  CHECK(t.type == ggml_type::f32);
  CHECK(t.dims == std::vector<std::uint64_t>{4, 3, 2});
  CHECK(t.shape() == std::vector<std::int64_t>{2, 3, 4});
  CHECK(t.bytes == 2 * 3 * 4 * 4);
  for (const auto& info : f.tensors()) {
    CHECK(info.offset % f.header().alignment == 0);
    CHECK((f.header().data_offset % f.header().alignment) == 0);
  }
  const auto& q = f.tensor("q4_k");
  CHECK(q.type == ggml_type::q4_k);
  CHECK(q.bytes == 2 * 2 * 144);
  CHECK_THROWS_AS(f.tensor("missing"), kvc::error);
  const auto i8 = f.to_float(f.tensor("i8"));
  REQUIRE(i8.size() == 8);
  CHECK(i8[0] == -4.0f);
  CHECK(i8[7] == 3.0f);
}

TEST_CASE("gguf dequantization matches the gguf package") {
  const auto f = kvc::io::gguf_file::open(fixture);
  for (const char* name : {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k", "f16", "bf16"}) {
    INFO(name);
    const auto got = f.to_float(f.tensor(name));
    const auto want = f.to_float(f.tensor(std::string(name) + ".expected"));
    REQUIRE(got.size() == want.size());
    double max_abs = 0, max_diff = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      REQUIRE(std::isfinite(got[i]));
      max_abs = std::max(max_abs, std::abs(double(want[i])));
      max_diff = std::max(max_diff, std::abs(double(got[i]) - double(want[i])));
    }
    CHECK(max_abs > 0);
    // Same formulas; only fused multiply-add contraction may change the last bit.
    CHECK(max_diff <= 1e-6 * max_abs);
  }
}

TEST_CASE("gguf dequantize_row rejects partial blocks and unsupported types") {
  std::vector<std::byte> src(64);
  std::vector<float> dst(64);
  CHECK_THROWS_AS(kvc::io::dequantize_row(ggml_type::q4_0, src.data(), dst.data(), 31), kvc::error);
  CHECK_THROWS_AS(kvc::io::dequantize_row(ggml_type::iq2_xxs, src.data(), dst.data(), 256), kvc::error);
  CHECK_NOTHROW(kvc::io::dequantize_row(ggml_type::q4_0, src.data(), dst.data(), 32));
  CHECK(dst[0] == 0.0f);  // d = 0
}

TEST_CASE("gguf: a hand-built file parses") {
  const auto h = valid_file().parse();
  REQUIRE(h.tensors.size() == 2);
  CHECK(h.tensors[1].name == "b");
  CHECK(h.tensors[1].offset == 32);
  CHECK(h.find("llama.block_count")->to_uint() == 7);
  CHECK(h.data_offset % 32 == 0);
}

TEST_CASE("gguf: malformed files are rejected with the file name and the field") {
  SECTION("bad magic") {
    auto g = valid_file();
    g.b[0] = std::byte{'X'};
    require_error(g, "magic");
  }
  SECTION("version 1") {
    gguf_builder g;
    g.header(1, 0, 0);
    require_error(g, "version 1");
  }
  SECTION("truncated everywhere") {
    const auto full = valid_file();
    const auto header_end = full.parse().data_offset;
    for (std::size_t n = 0; n < header_end; n += 3) {
      gguf_builder g;
      g.b.assign(full.b.begin(), full.b.begin() + long(n));
      INFO("length " << n);
      CHECK_THROWS_AS(g.parse(), kvc::error);
    }
  }
  SECTION("tensor data past the end") {
    auto g = valid_file();
    g.b.resize(g.b.size() - 4);
    require_error(g, "'b'");
  }
  SECTION("huge counts") {
    gguf_builder g;
    g.header(3, 0, std::uint64_t(1) << 60);
    require_error(g, "metadata_kv_count");
    gguf_builder h;
    h.header(3, std::uint64_t(1) << 60, 0);
    require_error(h, "tensor_count");
  }
  SECTION("string length beyond the file") {
    gguf_builder g;
    g.header(3, 0, 1);
    g.put<std::uint64_t>(1000);
    g.data(8);
    require_error(g, "truncated");
  }
  SECTION("unknown value type") {
    gguf_builder g;
    g.header(3, 0, 1);
    g.str("k");
    g.put<std::uint32_t>(13);
    g.data(8);
    require_error(g, "unknown value type 13");
  }
  SECTION("array longer than the file") {
    gguf_builder g;
    g.header(3, 0, 1);
    g.str("arr");
    g.put<std::uint32_t>(9);
    g.put<std::uint32_t>(4);
    g.put<std::uint64_t>(1000000);
    g.data(16);
    require_error(g, "'arr'");
  }
  SECTION("arrays nested too deep") {
    gguf_builder g;
    g.header(3, 0, 1);
    g.str("deep");
    g.put<std::uint32_t>(9);
    for (int i = 0; i < 6; ++i) {
      g.put<std::uint32_t>(9);
      g.put<std::uint64_t>(1);
    }
    g.data(64);
    require_error(g, "nested");
  }
  SECTION("bool not 0 or 1") {
    gguf_builder g;
    g.header(3, 0, 1);
    g.str("flag");
    g.put<std::uint32_t>(7);
    g.put<std::uint8_t>(2);
    require_error(g, "'flag'");
  }
  SECTION("duplicate key") {
    gguf_builder g;
    g.header(3, 0, 2);
    g.kv_u32("x", 1);
    g.kv_u32("x", 2);
    require_error(g, "duplicate metadata key 'x'");
  }
  SECTION("alignment not a power of two") {
    gguf_builder g;
    g.header(3, 0, 1);
    g.kv_u32("general.alignment", 24);
    require_error(g, "general.alignment");
  }
  SECTION("duplicate tensor") {
    gguf_builder g;
    g.header(3, 2, 0);
    g.tensor_info("t", {4}, 0, 0);
    g.tensor_info("t", {4}, 0, 32);
    g.pad();
    g.data(64);
    require_error(g, "duplicate tensor name 't'");
  }
  SECTION("too many dimensions, zero dimension") {
    gguf_builder g;
    g.header(3, 1, 0);
    g.tensor_info("t", {1, 1, 1, 1, 1}, 0, 0);
    require_error(g, "5 dimensions");
    gguf_builder h;
    h.header(3, 1, 0);
    h.tensor_info("t", {4, 0}, 0, 0);
    require_error(h, "dimension 1 is 0");
  }
  SECTION("unknown type, partial block") {
    gguf_builder g;
    g.header(3, 1, 0);
    g.tensor_info("t", {32}, 5, 0);
    require_error(g, "unknown ggml type 5");
    gguf_builder h;
    h.header(3, 1, 0);
    h.tensor_info("t", {48}, 2, 0);
    require_error(h, "block size 32");
  }
  SECTION("element count overflow") {
    gguf_builder g;
    g.header(3, 1, 0);
    g.tensor_info("t", {std::uint64_t(1) << 40, std::uint64_t(1) << 40}, 0, 0);
    require_error(g, "overflows");
  }
  SECTION("misaligned and overlapping offsets") {
    gguf_builder g;
    g.header(3, 1, 0);
    g.tensor_info("t", {4}, 0, 8);
    g.pad();
    g.data(64);
    require_error(g, "alignment");
    gguf_builder h;
    h.header(3, 2, 0);
    h.tensor_info("a", {16}, 0, 0);
    h.tensor_info("b", {4}, 0, 32);
    h.pad();
    h.data(96);
    require_error(h, "overlap");
  }
}

TEST_CASE("gguf_file::open names the file") {
  const auto dir = std::filesystem::temp_directory_path() / "kvc_test_gguf";
  std::filesystem::create_directories(dir);
  const auto path = dir / "broken.gguf";
  {
    std::ofstream os(path, std::ios::binary);
    os << "GGUF\x03";
  }
  try {
    (void)kvc::io::gguf_file::open(path);
    FAIL("expected an error");
  } catch (const kvc::error& e) {
    CHECK(std::string(e.what()).find("broken.gguf") != std::string::npos);
  }
  CHECK_THROWS_AS(kvc::io::gguf_file::open(dir / "missing.gguf"), kvc::error);
  std::filesystem::remove_all(dir);
}
