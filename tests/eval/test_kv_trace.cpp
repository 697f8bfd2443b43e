// KV traces: a trace recorded from the reference model replays to the model's own attention
// outputs; write/read round trips; malformed traces are rejected; the trace compare ranks policies.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "app/kv_recorder.hpp"
#include "compare/trace_compare.hpp"
#include "kvc/io/kv_trace.hpp"
#include "kvc/io/safetensors_writer.hpp"
#include "model/model.hpp"

namespace {

namespace fs = std::filesystem;

struct recorded {
  kvc::io::kv_trace trace;
  std::vector<std::vector<float>> attn;  // [layers][T * q_heads * head_dim], the live outputs
  std::vector<std::size_t> chunks;       // forward call sizes
};

/// Prefill `prompt` in chunks of 5, then 6 greedy decode steps, recording q/k/v and attn_out.
recorded record(const kvc::qwen3::model& m, const char* spec) {
  recorded r;
  kvc::qwen3::kv_recorder rec(m);
  r.attn.resize(std::size_t(m.config().num_layers));
  auto cache = m.make_cache(spec);
  std::vector<std::int32_t> tokens{3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26};
  std::vector<float> logits;
  std::size_t pos = 0;
  const auto call = [&](std::span<const std::int32_t> ids, kvc::qwen3::logits_mode mode) {
    std::vector<std::int32_t> positions(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) positions[i] = std::int32_t(pos + i);
    auto inner = rec.for_call(positions);
    logits = m.forward(ids, positions, cache, mode, [&](std::string_view name, int layer, kvc::tensor_view<const float, 2> v) {
      inner(name, layer, v);
      if (name == "attn_out")
        for (std::size_t i = 0; i < v.extent(0); ++i)
          for (std::size_t j = 0; j < v.extent(1); ++j) r.attn[std::size_t(layer)].push_back(v(i, j));
    });
    pos += ids.size();
    r.chunks.push_back(ids.size());
  };
  for (std::size_t t = 0; t < tokens.size(); t += 5)
    call(std::span<const std::int32_t>(tokens).subspan(t, std::min<std::size_t>(5, tokens.size() - t)),
         kvc::qwen3::logits_mode::last);
  for (int i = 0; i < 6; ++i) {
    const std::int32_t id[1] = {std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin())};
    call(id, kvc::qwen3::logits_mode::last);
  }
  r.trace = rec.trace();
  return r;
}

/// Replays the trace through `spec` with the live run's call sizes; max |out - live|.
double replay_diff(const recorded& r, const char* spec) {
  const auto& t = r.trace;
  const std::size_t hq = t.shape.q_heads, hk = t.shape.kv_heads, d = t.shape.head_dim;
  kvc::kv_cache cache(spec, t.layers(), t.shape);
  double worst = 0;
  for (int l = 0; l < t.layers(); ++l) {
    std::size_t pos = 0;
    for (std::size_t n : r.chunks) {
      std::vector<float> out(n * hq * d);
      const auto& L = std::size_t(l);
      cache.append_and_attend(l, kvc::tensor_view<const float, 3>(t.q[L].data() + pos * hq * d, {n, hq, d}),
                              kvc::tensor_view<const float, 3>(t.k[L].data() + pos * hk * d, {n, hk, d}),
                              kvc::tensor_view<const float, 3>(t.v[L].data() + pos * hk * d, {n, hk, d}),
                              kvc::tensor_view<float, 3>(out.data(), {n, hq, d}));
      for (std::size_t i = 0; i < out.size(); ++i)
        worst = std::max(worst, std::abs(double(out[i]) - double(r.attn[L][pos * hq * d + i])));
      pos += n;
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("kv trace: recorded q/k/v replay to the live attention outputs") {
  for (const char* name : {"t1_f32", "l1_f32"}) {  // Qwen3 (q/k norm) and Llama
    INFO(name);
    const auto m = kvc::qwen3::model::load(fs::path(KVC_TEST_DATA_DIR) / "qwen3" / name);
    const auto r = record(m, "full:f32");
    CHECK(r.trace.tokens == 12 + 6);
    CHECK(r.trace.layers() == m.config().num_layers);
    const double live = replay_diff(r, "full:f32");
    CHECK(live < 1e-5);
    // Sanity of the check itself: a different cache's outputs are measurably different.
    CHECK(replay_diff(r, "quant:k=1,v=1,group=8,residual=8") > 100 * std::max(live, 1e-9));
  }
}

TEST_CASE("kv trace: write and read back") {
  const auto m = kvc::qwen3::model::load(fs::path(KVC_TEST_DATA_DIR) / "qwen3" / "t2_f32");
  auto r = record(m, "full:bf16");
  r.trace.metadata["model"] = "t2";
  const fs::path dir = fs::temp_directory_path() / "kvc_test_kv_trace";
  fs::create_directories(dir);
  kvc::io::write_kv_trace(dir / "f32.safetensors", r.trace);
  const auto back = kvc::io::read_kv_trace(dir / "f32.safetensors");
  CHECK(back.tokens == r.trace.tokens);
  CHECK(back.shape.q_heads == r.trace.shape.q_heads);
  CHECK(back.shape.kv_heads == 1);
  CHECK(back.q == r.trace.q);
  CHECK(back.k == r.trace.k);
  CHECK(back.v == r.trace.v);
  CHECK(back.metadata.at("model") == "t2");
  kvc::io::write_kv_trace(dir / "bf16.safetensors", r.trace, kvc::dtype::bf16);
  const auto half = kvc::io::read_kv_trace(dir / "bf16.safetensors");
  for (std::size_t i = 0; i < half.k[0].size(); ++i)
    CHECK(half.k[0][i] == Approx(r.trace.k[0][i]).epsilon(1.0 / 256).margin(1e-30));
  CHECK(fs::file_size(dir / "bf16.safetensors") < fs::file_size(dir / "f32.safetensors"));

  // Malformed: not a trace; a missing tensor; a shape that disagrees with the metadata.
  const std::vector<float> x(32, 1.0f);
  const auto bytes = std::as_bytes(std::span(x));
  kvc::io::write_safetensors(dir / "plain.safetensors", std::vector<kvc::io::tensor_to_write>{{"a", "F32", {32}, bytes}});
  CHECK_THROWS_WITH(kvc::io::read_kv_trace(dir / "plain.safetensors"), Catch::Contains("not a kvc KV trace"));
  const std::map<std::string, std::string> md{{"format", "kvc-kv-trace"}, {"version", "1"}, {"layers", "1"},
                                              {"tokens", "2"}, {"q_heads", "1"}, {"kv_heads", "1"}, {"head_dim", "8"}};
  kvc::io::write_safetensors(dir / "missing.safetensors",
                             std::vector<kvc::io::tensor_to_write>{{"layer.0.q", "F32", {2, 1, 8}, bytes.first(64)},
                                                                   {"layer.0.k", "F32", {2, 1, 8}, bytes.first(64)},
                                                                   {"layer.0.x", "F32", {2, 1, 8}, bytes.first(64)}},
                             md);
  CHECK_THROWS_WITH(kvc::io::read_kv_trace(dir / "missing.safetensors"), Catch::Contains("layer.0.v"));
  kvc::io::write_safetensors(dir / "shape.safetensors",
                             std::vector<kvc::io::tensor_to_write>{{"layer.0.q", "F32", {2, 1, 8}, bytes.first(64)},
                                                                   {"layer.0.k", "F32", {1, 1, 8}, bytes.first(32)},
                                                                   {"layer.0.v", "F32", {2, 1, 8}, bytes.first(64)}},
                             md);
  CHECK_THROWS_WITH(kvc::io::read_kv_trace(dir / "shape.safetensors"), Catch::Contains("'layer.0.k' has the wrong shape"));
  fs::remove_all(dir);
}

TEST_CASE("kv trace: compare replay scores the full cache exact and a lossy one not") {
  const auto m = kvc::qwen3::model::load(fs::path(KVC_TEST_DATA_DIR) / "qwen3" / "t1_f32");
  const auto r = record(m, "full:f32");
  const auto res = kvc::bench::run_trace_compare(r.trace, {"full:f32", "quant:k=2,v=2,group=8,residual=8"}, 6,
                                                 [](std::string_view, std::size_t, std::size_t) {});
  REQUIRE(res.size() == 2);
  CHECK(res[0].overall.context == 12);
  CHECK(res[0].layer_error.size() == std::size_t(m.config().num_layers));
  CHECK(res[0].overall.attn_rel_error < 1e-5);
  CHECK(res[1].overall.attn_rel_error > 1e-3);
  for (double e : res[1].layer_error) CHECK(e > 0.0);
  CHECK_THROWS_AS(kvc::bench::run_trace_compare(r.trace, {"full:f32"}, 18, {}), kvc::error);
}
