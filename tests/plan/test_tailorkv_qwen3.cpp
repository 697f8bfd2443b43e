// TailorKV on the tiny Qwen3 checkpoints: the next-layer query predictor's pipeline, calibration
// from a captured prefill vs the self-calibrating policy inside the model, and plan files.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "app/query_prediction.hpp"
#include "kvc/io/plan_file.hpp"
#include "kvc/plan/calibrate.hpp"
#include "kvc/policy/tailorkv.hpp"
#include "model/model.hpp"
#include "support/random.hpp"
#include "support/skip.hpp"

using namespace kvc;
using kvc::qwen3::logits_mode;

namespace {

/// predict_query fed layer l's own input vs the model's true query of layer l: the same
/// RMSNorm, q_proj, q_norm and RoPE on the same f32 values, one token; only the matmul's
/// summation order may differ: max |Δ| ≤ predictor_atol + predictor_rtol · max |q|.
constexpr double predictor_atol = 1e-6, predictor_rtol = 1e-5;

}  // namespace

TEST_CASE("predict_query on a layer's own input reproduces that layer's query", "[tailorkv][qwen3]") {
  const std::uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (const char* dir : {"t1_f32", "l1_f32"}) {  // Qwen3 (q_norm) and Llama (none)
    INFO(dir);
    const auto m = qwen3::model::load(test::data_dir() / "qwen3" / dir);
    const auto& c = m.config();
    const std::size_t L = std::size_t(c.num_layers), H = std::size_t(c.hidden_size), Q = std::size_t(c.q_width());
    auto cache = m.make_cache("full:f32");
    const auto prompt = test::random_tokens(rng, 20, c.vocab_size);
    m.forward(prompt, cache, logits_mode::none);
    const std::int32_t token = std::uniform_int_distribution<std::int32_t>(0, c.vocab_size - 1)(rng);
    const auto position = std::int32_t(cache.size(0));
    // one decode step: every layer's input, normalised input and true post-RoPE query
    std::vector<std::vector<float>> x(L, std::vector<float>(H)), xn(L, std::vector<float>(H));
    m.weights().embed.row_to_float(token, x[0].data());
    const std::vector<std::int32_t> tok{token};
    qwen3::attention_capture cap;
    const qwen3::observer hidden = [&](std::string_view name, int layer, tensor_view<const float, 2> v) {
      if (name == "input_layernorm") std::copy_n(v.row(0), H, xn[std::size_t(layer)].data());
      if (name == "residual" && std::size_t(layer) + 1 < L) std::copy_n(v.row(0), H, x[std::size_t(layer) + 1].data());
    };
    // forward_capture runs the pass; a second identical cache gives the hidden states
    auto cache2 = m.make_cache("full:f32");
    m.forward(prompt, cache2, logits_mode::none);
    qwen3::forward_capture(m, tok, cache, logits_mode::none, 1, cap);
    m.forward(tok, std::vector<std::int32_t>{position}, cache2, logits_mode::none, hidden);
    for (std::size_t l = 1; l < L; ++l) {
      INFO("layer " << l);
      const auto a = qwen3::predict_query(m, int(l), x[l], position, qwen3::query_predictor::next_layer_norm);
      const auto b = qwen3::predict_query(m, int(l), xn[l], position, qwen3::query_predictor::own_layer_norm);
      double worst_a = 0, worst_b = 0, scale = 0;
      for (std::size_t i = 0; i < Q; ++i) {
        worst_a = std::max(worst_a, double(std::abs(a[i] - cap.q[l][i])));
        worst_b = std::max(worst_b, double(std::abs(b[i] - cap.q[l][i])));
        scale = std::max(scale, double(std::abs(cap.q[l][i])));
      }
      REQUIRE(scale > 0);
      REQUIRE(worst_a <= predictor_atol + predictor_rtol * scale);
      REQUIRE(worst_b <= predictor_atol + predictor_rtol * scale);
    }
    REQUIRE_THROWS_WITH(qwen3::predict_query(m, 0, x[0], position, qwen3::query_predictor::next_layer_norm),
                        Catch::Contains("layer 0 out of range"));
  }
}

TEST_CASE("tailorkv:calibrate=1 inside the model chooses what calibrate_tailorkv does on the captured prefill",
          "[tailorkv][qwen3]") {
  const std::uint64_t seed = test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const auto m = qwen3::model::load(test::data_dir() / "qwen3" / "t1_f32");
  const auto& c = m.config();
  const std::size_t L = std::size_t(c.num_layers), D = std::size_t(c.head_dim);
  const layer_shape shape = m.attention_shape();
  const auto prompt = test::random_tokens(rng, 40 + std::uniform_int_distribution<std::size_t>(0, 200)(rng), c.vocab_size);
  INFO("prompt " << prompt.size() << " tokens");

  // (a) the calibrate subcommand's path: capture, then calibrate_tailorkv
  auto full = m.make_cache("full:f32");
  qwen3::attention_capture cap;
  qwen3::forward_capture(m, prompt, full, logits_mode::none, tailorkv_last_queries, cap);
  std::vector<dyn_view3> q, k;
  for (std::size_t l = 0; l < L; ++l) {
    q.push_back(tensor_view<const float, 3>(cap.q[l].data(), {cap.q_rows[l], std::size_t(shape.q_heads), D}));
    k.push_back(tensor_view<const float, 3>(cap.k[l].data(), {prompt.size(), std::size_t(shape.kv_heads), D}));
  }
  tailorkv_calibration_options opts;
  opts.setting = tailorkv_setting::short_context;
  const auto plan = calibrate_tailorkv(q, k, shape, opts, "t1_f32");

  // (b) the self-calibrating policy, one whole-prompt prefill
  auto tkv = m.make_cache("tailorkv:calibrate=1,setting=short");
  m.forward(prompt, tkv, logits_mode::none);
  for (std::size_t l = 0; l < L; ++l) {
    const auto* p = tkv.policy_as<tailorkv_cache<bf16>>(int(l));
    REQUIRE(p != nullptr);
    INFO("layer " << l << " P " << plan.scores[l]);
    REQUIRE(p->score() == plan.scores[l]);
    REQUIRE(p->chosen_spec() == plan.plan.layers[l]);
  }

  // (c) the plan file drives a cache through model::make_cache("plan:FILE")
  const auto file = std::filesystem::temp_directory_path() / ("kvc_tailorkv_plan_" + std::to_string(seed) + ".json");
  io::write_plan_file(file, plan.plan);
  auto planned = m.make_cache("plan:" + file.string());
  std::filesystem::remove(file);
  for (std::size_t l = 0; l < L; ++l) REQUIRE(planned.spec(int(l)) == plan.plan.layers[l]);
  REQUIRE_THROWS_WITH(m.make_cache("plan:" + file.string()), Catch::Contains("cannot open plan file"));
}
