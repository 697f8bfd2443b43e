// Plan files: JSON round trip, validation against a layer count, and clear errors for bad input.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "kvc/cache.hpp"
#include "kvc/io/plan_file.hpp"

using namespace kvc;

TEST_CASE("a plan survives a JSON round trip, scores included", "[plan]") {
  cache_plan plan{"tiny", {"quant:k=1,v=1", "full:bf16", "full:f16"}, {0.4, 0.1, 0.05}};
  const auto back = io::parse_plan_json(io::plan_to_json(plan));
  REQUIRE(back.model == "tiny");
  REQUIRE(back.layers == plan.layers);
  REQUIRE(back.scores == plan.scores);
  const auto file = std::filesystem::temp_directory_path() / ("kvc_plan_" + std::to_string(::getpid()) + ".json");
  io::write_plan_file(file, plan);
  REQUIRE(io::read_plan_file(file).layers == plan.layers);
  std::filesystem::remove(file);
}

TEST_CASE("layers may be listed in any order", "[plan]") {
  const auto plan = io::parse_plan_json(R"({"layers": [{"layer": 1, "policy": "full:f32"}, {"layer": 0, "policy": "full:bf16"}]})");
  REQUIRE(plan.layers == std::vector<std::string>{"full:bf16", "full:f32"});
  REQUIRE(plan.scores.empty());
  kv_cache cache(plan, {4, 2, 16});
  REQUIRE(cache.spec(1) == "full:f32");
}

TEST_CASE("malformed plans are rejected with the reason", "[plan]") {
  const auto bad = [](const char* json) { return io::parse_plan_json(json, "p.json"); };
  REQUIRE_THROWS_WITH(bad("{"), Catch::Contains("p.json: not valid JSON"));
  REQUIRE_THROWS_WITH(bad("[]"), Catch::Contains("must be a JSON object"));
  REQUIRE_THROWS_WITH(bad(R"({"model": "m"})"), Catch::Contains("missing \"layers\""));
  REQUIRE_THROWS_WITH(bad(R"({"layers": []})"), Catch::Contains("\"layers\" is empty"));
  REQUIRE_THROWS_WITH(bad(R"({"layers": [{"policy": "full:bf16"}]})"), Catch::Contains("integer \"layer\""));
  REQUIRE_THROWS_WITH(bad(R"({"layers": [{"layer": 3, "policy": "full:bf16"}]})"), Catch::Contains("layer 3 out of range"));
  REQUIRE_THROWS_WITH(bad(R"({"layers": [{"layer": 0, "policy": "a"}, {"layer": 0, "policy": "b"}]})"),
                      Catch::Contains("layer 0 appears twice"));
  REQUIRE_THROWS_WITH(bad(R"({"layers": [{"layer": 0, "policy": 5}]})"), Catch::Contains("\"policy\""));
  REQUIRE_THROWS_WITH(bad(R"({"layers": [{"layer": 0, "policy": "a", "score": "x"}]})"), Catch::Contains("\"score\" must be a number"));
  REQUIRE_THROWS_WITH(io::read_plan_file("/nonexistent/plan.json"), Catch::Contains("cannot open plan file"));
}

TEST_CASE("a plan must match the model's layer count", "[plan]") {
  const auto plan = cache_plan::uniform("full:bf16", 3);
  REQUIRE_NOTHROW(plan.validate_for(3));
  REQUIRE_THROWS_WITH(plan.validate_for(36), Catch::Contains("has 3 layers but the model has 36"));
}
