// kvc::io::checkpoint: single-file and 3-shard indexed checkpoints, and broken indexes.
#include <catch2/catch.hpp>

#include <algorithm>

#include "io/io_test_files.hpp"
#include "kvc/io/safetensors.hpp"
#include "kvc/io/safetensors_writer.hpp"

using namespace kvc::io;
using Catch::Contains;
using kvc::test::bytes_of;
using kvc::test::temp_dir;

namespace {

std::string shard_name(int k) {
  return "model-0000" + std::to_string(k) + "-of-00003.safetensors";
}

// "t<k>_<j>" (built with += : GCC 12 warns falsely on "literal" + std::string, PR 105329).
std::string tensor_name(int k, int j) {
  std::string s = "t";
  s += std::to_string(k);
  s += '_';
  s += std::to_string(j);
  return s;
}

// Tensor "t<k>_<j>" of shard k holds values 100k + 10j + i (distinct across the checkpoint).
std::vector<float> values(int k, int j, int n) {
  std::vector<float> v(std::size_t(n), 0.f);
  for (int i = 0; i < n; ++i) v[std::size_t(i)] = float(100 * k + 10 * j + i);
  return v;
}

struct sharded {
  temp_dir dir;
  std::vector<std::string> all_names;
  std::string weight_map;  // JSON object body

  // Three shards with 2, 3 and 1 F32 tensors, and (when write_index) their index.
  explicit sharded(bool write_index = true) {
    const int counts[3] = {2, 3, 1};
    for (int k = 1; k <= 3; ++k) {
      std::vector<std::vector<float>> data;
      std::vector<tensor_to_write> ts;
      for (int j = 0; j < counts[k - 1]; ++j) data.push_back(values(k, j, j + 2));
      for (int j = 0; j < counts[k - 1]; ++j) {
        const std::string name = tensor_name(k, j);
        ts.push_back({name, "F32", {j + 2}, bytes_of(data[std::size_t(j)])});
        all_names.push_back(name);
        weight_map += std::string(weight_map.empty() ? "" : ",") + "\"" + name + "\":\"" +
                      shard_name(k) + "\"";
      }
      write_safetensors(dir / shard_name(k), ts, {{"format", "pt"}});
    }
    if (write_index) write_index_json("{\"metadata\":{\"total_size\":132},\"weight_map\":{" +
                                      weight_map + "}}");
    std::sort(all_names.begin(), all_names.end());
  }
  void write_index_json(const std::string& text) const {
    kvc::test::write_text(dir / "model.safetensors.index.json", text);
  }
};

std::string open_error(const std::filesystem::path& p) {
  try {
    checkpoint::open(p);
  } catch (const kvc::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a 3-shard checkpoint finds every tensor in its shard", "[io][checkpoint]") {
  sharded s;
  const checkpoint c = checkpoint::open(s.dir.path());
  CHECK(c.files().size() == 3);
  CHECK(c.names() == s.all_names);
  for (int k = 1; k <= 3; ++k) {
    const int count = k == 2 ? 3 : (k == 1 ? 2 : 1);
    for (int j = 0; j < count; ++j) {
      const std::string name = tensor_name(k, j);
      INFO(name);
      const auto r = c.find(name);
      REQUIRE(r.has_value());
      CHECK(r->info->name == name);
      CHECK(r->file.find(shard_name(k)) != std::string_view::npos);
      CHECK(r->to_float() == values(k, j, j + 2));
      CHECK(c.at(name).data == r->data);
    }
  }
  CHECK_FALSE(c.find("t4_0").has_value());
  CHECK_THROWS_WITH(c.at("t4_0"), Contains("tensor 't4_0' not found") &&
                                      Contains(s.dir.path().filename().string()));

  // Opening the index file itself gives the same checkpoint.
  const checkpoint c2 = checkpoint::open(s.dir / "model.safetensors.index.json");
  CHECK(c2.names() == s.all_names);
}

TEST_CASE("single-file checkpoints open from a directory or a file", "[io][checkpoint]") {
  temp_dir dir;
  const std::vector<float> v{1.f, 2.f, 3.f};
  const std::vector<tensor_to_write> ts{{"lm_head.weight", "F32", {3}, bytes_of(v)}};
  write_safetensors(dir / "model.safetensors", ts);
  const checkpoint c = checkpoint::open(dir.path());
  CHECK(c.names() == std::vector<std::string>{"lm_head.weight"});
  CHECK(c.at("lm_head.weight").to_float() == v);
  const checkpoint c2 = checkpoint::open(dir / "model.safetensors");
  CHECK(c2.at("lm_head.weight").as<float>()[2] == 3.f);
}

TEST_CASE("broken checkpoints are rejected with the problem named", "[io][checkpoint]") {
  SECTION("missing shard") {
    sharded s;
    std::filesystem::remove(s.dir / shard_name(2));
    CHECK_THAT(open_error(s.dir.path()), Contains("shard 'model-00002-of-00003.safetensors'") &&
                                             Contains("does not exist"));
  }
  SECTION("truncated shard") {
    sharded s;
    const auto p = s.dir / shard_name(3);
    std::filesystem::resize_file(p, std::filesystem::file_size(p) - 1);
    CHECK_THAT(open_error(s.dir.path()),
               Contains(shard_name(3)) && Contains("tensor 't3_0'") && Contains("exceeds data size"));
  }
  SECTION("index without weight_map") {
    sharded s;
    s.write_index_json(R"({"metadata":{"total_size":0}})");
    CHECK_THAT(open_error(s.dir.path()),
               Contains("model.safetensors.index.json") && Contains("missing 'weight_map'"));
  }
  SECTION("weight_map of the wrong type") {
    sharded s;
    s.write_index_json(R"({"weight_map":["model-00001-of-00003.safetensors"]})");
    CHECK_THAT(open_error(s.dir.path()), Contains("'weight_map' must be an object"));
    s.write_index_json(R"({"weight_map":{"t1_0":1}})");
    CHECK_THAT(open_error(s.dir.path()), Contains("tensor 't1_0'") && Contains("must be a string"));
  }
  SECTION("index that is not JSON") {
    sharded s;
    s.write_index_json("{\"weight_map\": ");
    CHECK_THAT(open_error(s.dir.path()), Contains("index is not valid JSON"));
  }
  SECTION("tensor listed but absent from its shard") {
    sharded s;
    s.write_index_json("{\"weight_map\":{" + s.weight_map +
                       ",\"ghost\":\"model-00001-of-00003.safetensors\"}}");
    CHECK_THAT(open_error(s.dir.path()), Contains("tensor 'ghost'") &&
                                             Contains("listed under shard 'model-00001") &&
                                             Contains("no such tensor"));
  }
  SECTION("tensor listed under the wrong shard") {
    sharded s;
    std::string wm = s.weight_map;
    const std::string from = "\"t1_0\":\"" + shard_name(1) + "\"";
    wm.replace(wm.find(from), from.size(), "\"t1_0\":\"" + shard_name(2) + "\"");
    s.write_index_json("{\"weight_map\":{" + wm + "}}");
    CHECK_THAT(open_error(s.dir.path()), Contains("tensor 't1_0'") && Contains("no such tensor"));
  }
  SECTION("tensor present in two shards") {
    sharded s;
    const std::vector<float> v{5.f};
    const std::vector<tensor_to_write> ts{{"t1_0", "F32", {1}, bytes_of(v)},
                                          {"t3_0", "F32", {1}, bytes_of(v)}};
    write_safetensors(s.dir / shard_name(3), ts);  // t1_0 now also in shard 3
    CHECK_THAT(open_error(s.dir.path()), Contains("tensor 't1_0' appears in two shards") &&
                                             Contains(shard_name(1)) && Contains(shard_name(3)));
  }
  SECTION("duplicate tensor in weight_map") {
    sharded s;
    s.write_index_json("{\"weight_map\":{" + s.weight_map + ",\"t1_0\":\"" + shard_name(1) + "\"}}");
    CHECK_THAT(open_error(s.dir.path()), Contains("duplicate key 't1_0'"));
  }
  SECTION("shard name that is a path") {
    sharded s;
    s.write_index_json(R"({"weight_map":{"t1_0":"../model-00001-of-00003.safetensors"}})");
    CHECK_THAT(open_error(s.dir.path()), Contains("not a plain shard file name"));
  }
  SECTION("empty directory") {
    temp_dir d;
    CHECK_THAT(open_error(d.path()), Contains("neither model.safetensors.index.json nor model.safetensors"));
  }
  SECTION("missing path") {
    temp_dir d;
    CHECK_THAT(open_error(d / "nothing-here"), Contains("nothing-here") && Contains("does not exist"));
  }
}
