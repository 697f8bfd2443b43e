// Malformed safetensors files and headers: each is rejected with a message naming the problem.
#include <catch2/catch.hpp>

#include "io/io_test_files.hpp"
#include "kvc/io/safetensors.hpp"
#include "kvc/io/safetensors_writer.hpp"

using namespace kvc::io;
using Catch::Contains;
using kvc::test::bytes_of;
using kvc::test::raw_safetensors;
using kvc::test::temp_dir;

namespace {

// Parses a raw header (unpadded) followed by `data_bytes` filler bytes; returns the message of
// the kvc::error it throws, or "" when it parses.
std::string parse_error(std::string_view header, std::size_t data_bytes) {
  const auto bytes = raw_safetensors(header, data_bytes);
  try {
    parse_safetensors_bytes(bytes, "bad.safetensors");
  } catch (const kvc::error& e) {
    return e.what();
  }
  return "";
}

std::string open_error(const std::filesystem::path& p) {
  try {
    safetensors_file::open(p);
  } catch (const kvc::error& e) {
    return e.what();
  }
  return "";
}

// A valid two-tensor file: "a" F32 [2] at [0, 8), "b" BF16 [2, 2] at [8, 16).
std::vector<std::byte> valid_file() {
  static const std::vector<float> a{1.f, 2.f};
  static const std::vector<kvc::bf16> b{{1}, {2}, {3}, {4}};
  const std::vector<tensor_to_write> ts{{"a", "F32", {2}, bytes_of(a)},
                                        {"b", "BF16", {2, 2}, bytes_of(b)}};
  return serialize_safetensors(ts);
}

}  // namespace

TEST_CASE("a raw valid header parses (the helpers build good files)", "[io][malformed]") {
  CHECK(parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8) == "");
  CHECK(parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}    )", 8) == "");
  CHECK(parse_error("{}", 0) == "");
}

TEST_CASE("truncated files are rejected", "[io][malformed]") {
  temp_dir dir;
  const auto good = valid_file();
  const auto path = dir / "model-00002-of-00003.safetensors";
  kvc::test::write_bytes(path, good);
  REQUIRE(open_error(path) == "");

  SECTION("data cut short") {
    std::filesystem::resize_file(path, good.size() - 3);
    const auto msg = open_error(path);
    CHECK_THAT(msg, Contains("model-00002-of-00003.safetensors") && Contains("tensor 'b'") &&
                        Contains("data_offsets end 16 exceeds data size 13"));
  }
  SECTION("header cut short") {
    std::filesystem::resize_file(path, 20);
    CHECK_THAT(open_error(path), Contains("model-00002-of-00003.safetensors") &&
                                     Contains("larger than the 12 bytes") && Contains("truncated"));
  }
  SECTION("length field cut short") {
    std::filesystem::resize_file(path, 5);
    CHECK_THAT(open_error(path), Contains("too small (5 bytes)"));
  }
  SECTION("empty file") {
    std::filesystem::resize_file(path, 0);
    CHECK_THAT(open_error(path), Contains("too small (0 bytes)"));
  }
}

TEST_CASE("bad header lengths are rejected", "[io][malformed]") {
  temp_dir dir;
  auto bytes = valid_file();
  const auto path = dir / "len.safetensors";
  SECTION("over the 100,000,000-byte limit") {
    kvc::test::set_header_length(bytes, 100'000'001);
    kvc::test::write_bytes(path, bytes);
    CHECK_THAT(open_error(path), Contains("len.safetensors") && Contains("header length 100000001") &&
                                     Contains("exceeds the limit of 100000000"));
  }
  SECTION("all ones (would overflow 8 + N)") {
    kvc::test::set_header_length(bytes, ~std::uint64_t{0});
    kvc::test::write_bytes(path, bytes);
    CHECK_THAT(open_error(path), Contains("exceeds the limit"));
  }
  SECTION("larger than the file") {
    kvc::test::set_header_length(bytes, bytes.size());
    kvc::test::write_bytes(path, bytes);
    CHECK_THAT(open_error(path), Contains("header length " + std::to_string(bytes.size())) &&
                                     Contains("larger than"));
  }
  SECTION("shorter than the JSON") {
    kvc::test::set_header_length(bytes, 16);
    kvc::test::write_bytes(path, bytes);
    CHECK_THAT(open_error(path), Contains("not valid JSON"));
  }
}

TEST_CASE("headers that are not a JSON object are rejected", "[io][malformed]") {
  CHECK_THAT(parse_error("hello world", 0), Contains("bad.safetensors") && Contains("starting with '{'"));
  CHECK_THAT(parse_error("[1, 2, 3]", 0), Contains("starting with '{'"));
  CHECK_THAT(parse_error(" {}", 0), Contains("starting with '{'"));
  CHECK_THAT(parse_error("", 0), Contains("header is empty"));
  CHECK_THAT(parse_error("{not json}", 0), Contains("header is not valid JSON"));
  CHECK_THAT(parse_error("{} {}", 0), Contains("not valid JSON"));
  CHECK_THAT(parse_error("{\"a\": 1", 0), Contains("not valid JSON"));
  CHECK_THAT(parse_error("{\"\xff\": 1}", 0), Contains("not valid JSON"));  // invalid UTF-8
}

TEST_CASE("entries with missing fields are rejected", "[io][malformed]") {
  CHECK_THAT(parse_error(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8),
             Contains("tensor 'w'") && Contains("missing field 'dtype'"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8),
             Contains("tensor 'w'") && Contains("missing field 'shape'"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F32","shape":[2]}})", 8),
             Contains("tensor 'w'") && Contains("missing field 'data_offsets'"));
}

TEST_CASE("entries with wrongly typed fields are rejected", "[io][malformed]") {
  CHECK_THAT(parse_error(R"({"w":7})", 0), Contains("tensor 'w'") && Contains("must be a JSON object"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", 8),
             Contains("field 'dtype' must be a string, got number"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8),
             Contains("field 'shape' must be an array, got string"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8),
             Contains("shape[0] must be an integer"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":{"a":0}}})", 8),
             Contains("field 'data_offsets' must be an array"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8),
             Contains("must have 2 elements, got 3"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", 8),
             Contains("data_offsets[1] must be a non-negative integer"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-1,8]}})", 8),
             Contains("data_offsets[0] must be a non-negative integer"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}})", 8),
             Contains("unknown dtype 'Q4_K'"));
}

TEST_CASE("negative and overflowing shapes are rejected", "[io][malformed]") {
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]}})", 0),
             Contains("tensor 'w'") && Contains("shape[1] = -1 is negative"));
  CHECK_THAT(
      parse_error(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,0]}})", 0),
      Contains("shape[0] = 18446744073709551615 is too large"));
  CHECK_THAT(
      parse_error(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
      Contains("more elements than fit in 64 bits"));
  // numel fits in int64 but numel x 32 bits does not fit in 64 bits.
  CHECK_THAT(
      parse_error(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
      Contains("byte size overflows"));
  // A zero dimension makes even a huge shape empty: valid.
  CHECK(parse_error(R"({"w":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}})",
                    0) == "");
  CHECK_THAT(parse_error(R"({"w":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}})", 1),
             Contains("not a whole number of bytes"));
}

TEST_CASE("offsets out of range, overlapping or leaving holes are rejected", "[io][malformed]") {
  CHECK_THAT(parse_error(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", 8),
             Contains("bad.safetensors: tensor 'x': data_offsets end 12 exceeds data size 8"));
  CHECK_THAT(parse_error(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
             Contains("begin 8 is after end 4"));
  CHECK_THAT(parse_error(R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12),
             Contains("tensor 'x'") && Contains("span 12 bytes but shape [2, 2] of F32 needs 16"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         12),
             Contains("tensor 'b'") && Contains("overlap tensor 'a' [0, 8)"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                         8),
             Contains("overlap"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                         12),
             Contains("hole in data: bytes [4, 8)") && Contains("before tensor 'b'"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
             Contains("hole in data: bytes [0, 4)"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8),
             Contains("bytes [4, 8) at the end of the data buffer"));
  CHECK_THAT(parse_error("{}", 3), Contains("bytes [0, 3) at the end"));
  // Zero-size tensors may sit anywhere on a tensor boundary.
  CHECK(parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                    R"("z":{"dtype":"BF16","shape":[0],"data_offsets":[4,4]},)"
                    R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    8) == "");
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("z":{"dtype":"BF16","shape":[0],"data_offsets":[4,4]}})",
                         8),
             Contains("tensor 'z'") && Contains("overlap tensor 'a'"));
}

TEST_CASE("duplicate names and bad metadata are rejected", "[io][malformed]") {
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         8),
             Contains("duplicate tensor name 'a' in header"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4),
             Contains("duplicate key 'dtype'"));
  CHECK_THAT(parse_error(R"({"__metadata__":{"format":1}})", 0),
             Contains("__metadata__ value for key 'format' must be a string"));
  CHECK_THAT(parse_error(R"({"__metadata__":["pt"]})", 0), Contains("__metadata__ must be an object"));
  CHECK(parse_error(R"({"__metadata__":{"format":"pt"}})", 0) == "");
}

TEST_CASE("looking up a missing tensor names it and the file", "[io][malformed]") {
  temp_dir dir;
  const auto path = dir / "lookup.safetensors";
  kvc::test::write_bytes(path, valid_file());
  const auto f = safetensors_file::open(path);
  CHECK(f.find("nope") == nullptr);
  CHECK_THROWS_WITH(f.at("nope"), Contains("no tensor named 'nope'") && Contains("lookup.safetensors"));
}

TEST_CASE("files that cannot be opened are reported", "[io][malformed]") {
  temp_dir dir;
  CHECK_THAT(open_error(dir / "absent.safetensors"), Contains("absent.safetensors") &&
                                                           Contains("cannot open"));
  CHECK_THAT(open_error(dir.path()), Contains("not a regular file"));
}
