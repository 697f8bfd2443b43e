// kvc::io::resolve_plan: `plan:FILE` reads and validates a plan file; other specs are uniform.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "kvc/cache.hpp"
#include "kvc/io/plan_file.hpp"
#include "kvc/io/resolve_plan.hpp"
#include "support/random.hpp"

using namespace kvc;
using Catch::Contains;

namespace {

/// A file in the system temp folder, removed on scope exit.
struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string& text) {
    path = std::filesystem::temp_directory_path() / ("kvc_plan_" + std::to_string(test::fresh_seed()) + ".json");
    std::ofstream(path) << text;
  }
  ~temp_file() { std::filesystem::remove(path); }
  std::string spec() const { return "plan:" + path.string(); }
};

std::string error_of(const std::string& spec, int layers) {
  try {
    io::resolve_plan(spec, layers);
  } catch (const kvc::error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("resolve_plan: specs other than plan:FILE give a uniform plan", "[resolve_plan]") {
  for (const char* spec : {"full:bf16", "quant:k=2,v=2,group=64,residual=128", "tailorkv:calibrate=1,bits=1"}) {
    const cache_plan p = io::resolve_plan(spec, 5);
    REQUIRE(p.layers == std::vector<std::string>(5, spec));
    REQUIRE(p.scores.empty());
  }
  REQUIRE_THROWS_WITH(io::resolve_plan("full:bf16", 0), Contains("at least one layer"));
}

TEST_CASE("resolve_plan reads a tailorkv plan file with its scores", "[resolve_plan]") {
  const std::uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const int layers = std::uniform_int_distribution<int>(2, 40)(rng);
  cache_plan plan;
  plan.model = "tiny";
  for (int l = 0; l < layers; ++l) {
    const double p = std::uniform_real_distribution<double>(0, 1)(rng);
    plan.layers.push_back(p > 0.2 ? "quant:k=1,v=1,group=64,residual=128" : "sparse:topk=896,sink=64,window=64,channels=12");
    plan.scores.push_back(p);
  }
  const temp_file f(io::plan_to_json(plan));
  const cache_plan got = io::resolve_plan(f.spec(), layers);
  REQUIRE(got.model == plan.model);
  REQUIRE(got.layers == plan.layers);
  REQUIRE(got.scores.size() == plan.scores.size());
  for (std::size_t l = 0; l < plan.scores.size(); ++l) REQUIRE(got.scores[l] == Approx(plan.scores[l]).epsilon(1e-15));
  kv_cache cache(got, layer_shape{8, 2, 128});
  for (int l = 0; l < layers; ++l) REQUIRE(cache.spec(l) == plan.layers[std::size_t(l)]);
}

TEST_CASE("resolve_plan errors name the problem", "[resolve_plan]") {
  const std::string missing = (std::filesystem::temp_directory_path() / "kvc_no_such_plan.json").string();
  CHECK_THAT(error_of("plan:" + missing, 4), Contains("cannot open plan file") && Contains(missing));

  const temp_file three(R"({"model":"m","layers":[{"layer":0,"policy":"full:bf16"},{"layer":1,"policy":"full:bf16"},
                            {"layer":2,"policy":"full:f16"}]})");
  CHECK_THAT(error_of(three.spec(), 4), Contains("has 3 layers but the model has 4") && Contains(three.path.string()));
  CHECK(error_of(three.spec(), 3) == "no error");

  const temp_file broken(R"({"model":"m","layers":[{"layer":0,"policy":"full:bf16"},)");
  CHECK_THAT(error_of(broken.spec(), 1), Contains("not valid JSON") && Contains(broken.path.string()));

  const temp_file no_layers(R"({"model":"m"})");
  CHECK_THAT(error_of(no_layers.spec(), 1), Contains("missing \"layers\""));

  const temp_file bad_spec(R"({"layers":[{"layer":0,"policy":"full:bf16"},{"layer":1,"policy":"quant:k=2,,v=2"}]})");
  CHECK_THAT(error_of(bad_spec.spec(), 2), Contains("layer 1") && Contains("empty item"));

  const temp_file nested(R"({"layers":[{"layer":0,"policy":"plan:other.json"}]})");
  CHECK_THAT(error_of(nested.spec(), 1), Contains("refers to another plan file"));

  // everything after plan: is the file name (options belong in the file), so a trailing option
  // is part of a name that does not exist
  CHECK_THAT(error_of(three.spec() + ",bits=1", 3), Contains("cannot open plan file") && Contains(",bits=1'"));
  CHECK_THAT(error_of("plan:", 3), Contains("needs a file name"));
  CHECK_THAT(error_of("plan", 3), Contains("plan:FILE"));
}
