// The memory planner against real caches: planned KV bytes equal footprint() of caches filled that way.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kvc/cache.hpp"
#include "kvc/plan/calibrate.hpp"
#include "app/model_memory.hpp"
#include "kvc/io/safetensors.hpp"
#include "kvc/memory_plan.hpp"
#include "model/activations.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"
#include "support/random.hpp"

namespace {

using namespace kvc;

/// Planned and built bytes must agree within this share (the bound; the prediction is
/// meant to be exact, and the worst case seen is printed).
constexpr double planned_vs_built_tolerance = 0.01;

struct model_case {
  std::string name;
  int layers;
  layer_shape shape;
};

std::vector<model_case> models() {
  std::vector<model_case> m;
  for (const char* dir : {"t1_bf16", "t2_bf16", "t3_bf16", "l1_bf16"}) {
    const auto c = qwen3::model_config::load(std::string(KVC_TEST_DATA_DIR) + "/qwen3/" + dir);
    m.push_back({dir, c.num_layers, c.attention_shape()});
  }
  // SmolLM2-135M-Instruct's config.json (not committed): 30 layers, 9 query heads, 3 KV heads of 64
  m.push_back({"SmolLM2-135M", 30, {9, 3, 64}});
  return m;
}

/// The plans every policy is checked with, for a model of `layers` layers and `head_dim`.
std::vector<cache_plan> plans(int layers, int head_dim) {
  // value groups run along the channels: the tiny checkpoints' head_dim of 16 or 32 takes groups
  // of at most head_dim (the default is 64)
  const std::string g = ",group=" + std::to_string(std::min(head_dim, 64));
  const std::string g32 = ",group=" + std::to_string(std::min(head_dim, 32));
  std::vector<cache_plan> p;
  for (const std::string& spec : std::vector<std::string>{"full:bf16", "full:f32", "quant:k=4,v=4" + g, "quant:k=2,v=2,rotate=1" + g32,
                                 "quant:k=1,v=1,sink=4" + g, "quant:k=8,v=8,dtype=f16" + g,
                                 "sparse:topk=64,sink=8,window=32,selector=exact",
                                 "sparse:topk=64,sink=8,window=32,channels=8",
                                 "sparse:topk=48,sink=4,window=16,selector=pages"})
    p.push_back(cache_plan::uniform(spec, layers));
  // a TailorKV plan as its calibration writes one: layer 0 quantized, the others sparse-offloaded
  tailorkv_calibration_options t;
  cache_plan mixed = cache_plan::uniform(t.sparse_spec(), layers);
  mixed.layers[0] = t.quantized_spec(head_dim);
  p.push_back(mixed);
  return p;
}

/// Fills `cache` as the plan assumes: `batch` sequences of context − 1 tokens stored in chunks,
/// then one batched decode step that attends.
void fill(kv_cache& cache, std::mt19937_64& rng, std::size_t context, std::size_t batch) {
  const layer_shape s = cache.shape();
  const std::size_t kvw = std::size_t(s.kv_heads * s.head_dim), qw = std::size_t(s.q_heads * s.head_dim);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const auto rows = [&](std::size_t n, std::size_t width) {
    std::vector<float> x(n * width);
    for (float& e : x) e = nd(rng);
    return x;
  };
  const std::size_t chunk = 173;  // odd on purpose: chunks cross pages and quant blocks
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t done = 0; done < context - 1;) {
      const std::size_t n = std::min(chunk, context - 1 - done);
      for (int l = 0; l < cache.layers(); ++l) {
        const auto k = rows(n, kvw), v = rows(n, kvw);
        cache.append(l, seq_id(std::uint32_t(b)), tensor_view<const float, 3>(k.data(), {n, std::size_t(s.kv_heads), std::size_t(s.head_dim)}),
                     tensor_view<const float, 3>(v.data(), {n, std::size_t(s.kv_heads), std::size_t(s.head_dim)}));
      }
      done += n;
    }
  std::vector<seq_run> runs;
  for (std::size_t b = 0; b < batch; ++b) runs.push_back({seq_id(std::uint32_t(b)), 1});
  for (int l = 0; l < cache.layers(); ++l) {
    const auto q = rows(batch, qw), k = rows(batch, kvw), v = rows(batch, kvw);
    std::vector<float> out(batch * qw);
    const std::array<std::size_t, 3> kv_dims{batch, std::size_t(s.kv_heads), std::size_t(s.head_dim)};
    const std::array<std::size_t, 3> q_dims{batch, std::size_t(s.q_heads), std::size_t(s.head_dim)};
    cache.append_and_attend(l, runs, tensor_view<const float, 3>(q.data(), q_dims), tensor_view<const float, 3>(k.data(), kv_dims),
                            tensor_view<const float, 3>(v.data(), kv_dims), tensor_view<float, 3>(out.data(), q_dims));
  }
}

double relative_gap(std::size_t planned, std::size_t built) {
  if (planned == built) return 0.0;
  return std::fabs(double(planned) - double(built)) / double(std::max(planned, built));
}

}  // namespace

TEST_CASE("planned KV bytes equal footprint() of the built cache for every policy, model, context and batch",
          "[plan][memory]") {
  const auto seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  double worst = 0.0;
  int checked = 0;
  for (const model_case& m : models())
    for (const cache_plan& plan : plans(m.layers, m.shape.head_dim))
      for (const std::size_t context : {97u, 700u, 2100u})
        for (const std::size_t batch : {1u, 3u}) {
          if (batch > 1 && context != 700) continue;  // batches at one length keep the test short
          INFO(m.name << " " << plan.layers.back() << " (layer 0: " << plan.layers[0] << ") context " << context
                      << " batch " << batch);
          const kv_bytes_plan planned = plan_kv_bytes(plan, m.shape, context, batch);
          kv_cache cache(plan, m.shape);
          fill(cache, rng, context, batch);
          const memory_footprint built = cache.footprint();
          const memory_footprint want = planned.total();
          INFO("planned device " << want.device_bytes << " host " << want.host_bytes << "; built device "
                                 << built.device_bytes << " host " << built.host_bytes);
          INFO("planned metadata " << want.metadata_bytes << "; built metadata " << built.metadata_bytes);
          INFO("planned windows " << want.window_bytes << "; built windows " << built.window_bytes);
          const double gap = std::max({relative_gap(want.device_bytes, built.device_bytes),
                                       relative_gap(want.host_bytes, built.host_bytes),
                                       relative_gap(want.metadata_bytes, built.metadata_bytes),
                                       relative_gap(want.window_bytes, built.window_bytes)});
          // sinks and recent windows: none in full caches, some in every quantized and sparse one
          const bool windowed = plan.layers.back().starts_with("quant") || plan.layers.back().starts_with("sparse");
          if (plan.layers.back().starts_with("full")) CHECK(built.window_bytes == 0);
          if (windowed) CHECK(built.window_bytes > 0);
          CHECK(built.window_bytes <= built.device_bytes);
          CHECK(gap <= planned_vs_built_tolerance);
          CHECK(cache.size(0, seq_id(0)) == context);
          worst = std::max(worst, gap);
          ++checked;
        }
  std::printf("planned vs built: %d cases, worst relative gap %.3g\n", checked, worst);
}

TEST_CASE("plan_memory splits the KV heads and the weights across tensor-parallel ranks", "[plan][memory]") {
  const layer_shape shape{32, 8, 128};
  memory_request r;
  r.plan = cache_plan::uniform("full:bf16", 4);
  r.num_layers = 4;
  r.shape = shape;
  r.context = 4096;
  r.batch = 2;
  r.weight_bytes = 1000;
  r.device_memory = std::size_t(1) << 40;
  const memory_report one = plan_memory(r);
  // full bf16: 2 (K and V) · kv_heads · head_dim · 2 bytes per token, in 256-token pages
  const std::size_t exact = 4 * 2 * 4096 * 2 * 8 * 128 * 2;
  CHECK(one.kv.total().device_bytes >= exact);
  CHECK(double(one.kv.total().device_bytes) <= double(exact) * 1.01);
  r.tensor_parallel = 4;
  const memory_report four = plan_memory(r);
  CHECK(four.weights == 250);
  CHECK(relative_gap(four.kv.total().device_bytes * 4, one.kv.total().device_bytes) <= 0.01);
  CHECK(one.fits());
  // the largest context that fits in what 1000 tokens take, and the largest batch
  r.tensor_parallel = 1;
  r.batch = 1;
  r.context = 1000;
  r.device_memory = plan_memory(r).device_total();
  const std::size_t most = largest_fitting(r, &memory_request::context, 1 << 20);
  CHECK(most >= 1000);
  CHECK(most < 1000 + 256);  // the next page would not fit
  r.context = most + 1;
  CHECK_FALSE(plan_memory(r).fits());
  r.context = 1000;
  CHECK(largest_fitting(r, &memory_request::batch, 64) == 1);
}

TEST_CASE("plan_memory rejects bad requests with errors that name the problem", "[plan][memory]") {
  memory_request r;
  r.plan = cache_plan::uniform("full:bf16", 4);
  r.num_layers = 4;
  r.shape = {32, 8, 128};
  r.context = 128;
  r.device_memory = 1 << 30;
  r.tensor_parallel = 3;
  CHECK_THROWS_WITH(plan_memory(r), Catch::Contains("does not divide the 8 KV heads"));
  r.tensor_parallel = 1;
  r.num_layers = 36;
  CHECK_THROWS_WITH(plan_memory(r), Catch::Contains("has 4 layers but the model has 36"));
  r.num_layers = 4;
  r.context = 0;
  CHECK_THROWS_WITH(plan_memory(r), Catch::Contains("context must be at least 1"));
  r.context = 128;
  r.plan = cache_plan::uniform("quant:k=3", 4);
  CHECK_THROWS_AS(plan_memory(r), kvc::error);
  r.plan = cache_plan::uniform("full:bf16", 4);
  r.device_memory = 10;
  CHECK_FALSE(plan_memory(r).fits());
  CHECK(largest_fitting(r, &memory_request::context, 1 << 20) == 0);
}

TEST_CASE("the weights counted from config.json equal the tiny checkpoints' tensors", "[plan][memory]") {
  for (const char* dir : {"t1_bf16", "t1_f32", "t2_bf16", "t2_f32", "t3_bf16", "t3_f32", "l1_bf16", "l1_f32"}) {
    INFO(dir);
    const std::string path = std::string(KVC_TEST_DATA_DIR) + "/qwen3/" + dir;
    const auto c = qwen3::model_config::load(path);
    const auto ckpt = io::checkpoint::open(path);
    const dtype stored = ckpt.at("model.embed_tokens.weight").type();
    // the checkpoint's headers (what kvc-plan reads for a directory) against the config's count
    const qwen3::model_memory m = qwen3::read_model_memory(path);
    CHECK(m.weight_bytes == qwen3::weight_bytes_for(c, stored));
    CHECK(m.weight_bytes > 0);
    // and the count of what the model binds: its matrices (model_weights::total_bytes) plus norms
    const auto bound = qwen3::model_weights::bind(std::make_shared<io::checkpoint>(io::checkpoint::open(path)), c);
    const std::size_t norms = (std::size_t(c.hidden_size) * (2 * std::size_t(c.num_layers) + 1) +
                               (c.has_qk_norm() ? 2 * std::size_t(c.head_dim) * std::size_t(c.num_layers) : 0)) *
                              dtype_size(stored);
    CHECK(bound.total_bytes() + norms == m.weight_bytes);
  }
}

TEST_CASE("the planned activation bytes are what a forward pass over a chunk allocates", "[plan][memory]") {
  const auto c = qwen3::model_config::load(std::string(KVC_TEST_DATA_DIR) + "/qwen3/t1_bf16");
  const std::size_t H = std::size_t(c.hidden_size), Q = std::size_t(c.q_width()), KV = std::size_t(c.kv_width());
  const std::size_t I = std::size_t(c.intermediate_size);
  for (const std::size_t n : {1u, 7u, 2048u}) {
    // x, h, o; q, attn; k, v; gate, up; the predicted query row; the positions
    const std::size_t by_hand = ((3 * H + 2 * Q + 2 * KV + 2 * I) * n + Q) * 4 + n * 4;
    CHECK(qwen3::activations::bytes_for(c, n) == by_hand);
    CHECK(qwen3::prefill_activation_bytes(c, n) == by_hand + std::size_t(c.vocab_size) * 4);
  }
}
