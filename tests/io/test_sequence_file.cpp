// Saved sequences: the round trip is bit-exact for every policy, and truncated, altered or mismatched files are rejected.
#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_files.hpp"
#include "kvc/saved_sequence.hpp"
#include "kvc/kvc.hpp"
#include "policy_cases.hpp"
#include "support/random.hpp"

namespace {

using namespace kvc;
using namespace policy_cases;
using Catch::Matchers::Contains;

/// Prefill `prompt` then decode to `end`, on sequence `seq` of a two-layer cache.
void fill(kv_cache& c, seq_id seq, const activations& a, std::size_t prompt, std::size_t end) {
  std::vector<float> out(prompt * a.hq * a.d);
  for (int l = 0; l < c.layers(); ++l)
    c.append_and_attend(l, seq, a.qv(0, prompt), a.kv(0, prompt), a.vv(0, prompt),
                        tensor_view<float, 3>(out.data(), {prompt, a.hq, a.d}));
  for (std::size_t t = prompt; t < end; ++t)
    for (int l = 0; l < c.layers(); ++l)
      c.append_and_attend(l, seq, a.qv(t, 1), a.kv(t, 1), a.vv(t, 1), tensor_view<float, 3>(out.data(), {1, a.hq, a.d}));
}

std::vector<float> decode(kv_cache& c, seq_id seq, const activations& a, std::size_t first, std::size_t end) {
  std::vector<float> outs, out(a.hq * a.d);
  for (std::size_t t = first; t < end; ++t)
    for (int l = 0; l < c.layers(); ++l) {
      c.append_and_attend(l, seq, a.qv(t, 1), a.kv(t, 1), a.vv(t, 1), tensor_view<float, 3>(out.data(), {1, a.hq, a.d}));
      outs.insert(outs.end(), out.begin(), out.end());
    }
  return outs;
}

void require_same_state(const sequence_state& a, const sequence_state& b) {
  REQUIRE(a.arrays().size() == b.arrays().size());
  for (const auto& [name, arr] : a.arrays()) {
    INFO("array " << name);
    REQUIRE(b.arrays().count(name) == 1);
    REQUIRE(b.arrays().at(name).type == arr.type);
    REQUIRE(b.arrays().at(name).shape == arr.shape);
    REQUIRE(b.arrays().at(name).bytes == arr.bytes);
  }
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("sequence files: save then load is bit-exact and the sequence goes on as before",
                        "[sequence_file]", sequence_policies) {
  const auto seed = test::fresh_seed();
  const std::string spec = case_of<TestType>().spec;
  INFO("seed " << seed << ", spec " << spec);
  REQUIRE(streaming_registered);
  std::mt19937_64 rng(seed);
  const activations a(rng, 110);
  test::temp_dir dir;
  kv_cache original(spec, 2, shape);
  fill(original, seq_id{3}, a, 60, 95);
  io::save_sequence(original, seq_id{3}, dir / "seq.safetensors");

  kv_cache resumed(spec, 2, shape);
  io::load_sequence(resumed, dir / "seq.safetensors", seq_id{5});
  for (int l = 0; l < 2; ++l) REQUIRE(resumed.size(l, seq_id{5}) == 95);
  require_same_state(original.save_state(seq_id{3}), resumed.save_state(seq_id{5}));
  REQUIRE(resumed.footprint(seq_id{5}).total() <= original.footprint(seq_id{3}).total());
  // the same stored form attends the same way (a ring may start elsewhere: sums in another order)
  const auto want = decode(original, seq_id{3}, a, 95, 110), got = decode(resumed, seq_id{5}, a, 95, 110);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(std::abs(got[i] - want[i]) <= 1e-5f * (1 + std::abs(want[i])));
}

TEST_CASE("sequence files: truncated, altered and mismatched files are rejected and load nothing", "[sequence_file]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const activations a(rng, 70);
  test::temp_dir dir;
  const std::string spec = "quant:k=4,v=2,group=16,residual=32,sink=3";
  kv_cache c(spec, 2, shape);
  fill(c, default_seq, a, 50, 70);
  io::save_sequence(c, default_seq, dir / "good.safetensors");
  const std::vector<std::byte> good = test::read_bytes(dir / "good.safetensors");

  auto rejected = [&](const std::vector<std::byte>& bytes, const std::string& needle, const std::string& into = "") {
    test::write_bytes(dir / "bad.safetensors", bytes);
    kv_cache target(into.empty() ? spec : into, 2, shape);
    REQUIRE_THROWS_WITH(io::load_sequence(target, dir / "bad.safetensors", seq_id{1}), Contains(needle));
    REQUIRE_FALSE(target.has_sequence(seq_id{1}));
    REQUIRE(target.footprint() == kv_cache(into.empty() ? spec : into, 2, shape).footprint());
  };
  rejected({good.begin(), good.begin() + std::ptrdiff_t(good.size() / 2)}, "bad.safetensors");  // truncated
  std::vector<std::byte> flipped = good;
  flipped[flipped.size() - 7] ^= std::byte{0x10};  // one bit of the last array
  rejected(flipped, "checksum");
  rejected(good, "policy", "quant:k=2,v=2,group=16,residual=32,sink=3");  // another policy
  {
    test::write_bytes(dir / "x.safetensors", good);
    kv_cache other_shape(spec, 2, layer_shape{8, 2, 64});
    REQUIRE_THROWS_WITH(io::load_sequence(other_shape, dir / "x.safetensors", seq_id{1}), Contains("head_dim"));
    kv_cache three(spec, 3, shape);
    REQUIRE_THROWS_WITH(io::load_sequence(three, dir / "x.safetensors", seq_id{1}), Contains("layers"));
  }
  // a state altered consistently (checksum recomputed) is still checked array by array
  {
    sequence_state st = c.save_state(default_seq);
    st.arrays().at("layer.1.counts").bytes[0] = std::byte{200};  // 200 sinks: more than the policy keeps
    kv_cache target(spec, 2, shape);
    REQUIRE_THROWS_WITH(target.load_state(seq_id{2}, st), Contains("sinks"));
    REQUIRE(target.size(0, seq_id{2}) == 0);
    REQUIRE(target.size(1, seq_id{2}) == 0);
    const auto file = io::parse_sequence_bytes(io::serialize_sequence(io::layout_of(c), st), "st");
    REQUIRE_THROWS_WITH(target.load_state(seq_id{2}, file.state), Contains("layer.1.counts"));
  }
  // not empty: refused
  kv_cache busy(spec, 2, shape);
  fill(busy, seq_id{1}, a, 10, 12);
  REQUIRE_THROWS_WITH(io::load_sequence(busy, dir / "good.safetensors", seq_id{1}), Contains("not empty"));
}
