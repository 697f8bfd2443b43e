// The C++ forward pass against Hugging Face transformers on the committed tiny checkpoints (T1, T2, T3, L1).
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "golden.hpp"
#include "model/model.hpp"

namespace {

using kvc::test::band;
using kvc::test::golden;

// C++ f32 vs HF f32 (../shared/research/qwen3.md §6.2): logits elementwise
// |Δ| ≤ logits_atol + logits_rtol·|ref|, identical argmax at every position.
constexpr double logits_atol = 1e-4, logits_rtol = 1e-4;
// Per-layer intermediates and the final norm: |Δ| ≤ inter_atol + inter_rtol·|ref|.
constexpr double inter_atol = 1e-5, inter_rtol = 1e-4;
// inv_freq: relative 1 ulp-ish (both f32; pow may differ in the last bit).
constexpr double inv_freq_rtol = 3e-7;
// The bf16 checkpoint is computed in f32 on the exact bf16 weights, and compared with HF f32 on the
// same (upcast) weights: the same arithmetic as the f32 case, so the same band applies.
// Against HF's *native* bf16 run (bf16 activations, bf16 rounding after every op) only a loose
// agreement is expected (qwen3.md §6.2): NMSE ≤ hf_bf16_nmse (llama.cpp's "very good") and the
// argmax equal at ≥ hf_bf16_top1 of positions.
constexpr double hf_bf16_nmse = 1e-3, hf_bf16_top1 = 0.95;

struct run_result {
  std::vector<float> logits;  // [T, vocab]
  std::map<std::string, std::vector<float>> seen;  // "layers.<i>.<name>" or "final_norm" -> [T, width]
};

run_result run(const kvc::qwen3::model& m, const std::vector<std::int32_t>& tokens) {
  run_result r;
  auto cache = m.make_cache("full:f32");
  r.logits = m.forward(tokens, cache, kvc::qwen3::logits_mode::all,
                       [&](std::string_view name, int layer, kvc::tensor_view<const float, 2> v) {
                         const std::string key =
                             layer >= 0 ? "layers." + std::to_string(layer) + "." + std::string(name)
                                        : std::string(name);
                         r.seen[key].assign(v.data(), v.data() + v.size());
                       });
  return r;
}

void check_logits(const std::vector<float>& got, const std::vector<float>& ref, std::size_t vocab,
                  const std::string& what) {
  REQUIRE(got.size() == ref.size());
  const auto b = band(got, ref, logits_atol, logits_rtol);
  INFO(what << ": max |Δlogit| = " << b.max_abs << ", worst band ratio " << b.worst_ratio << " at position "
            << b.worst_index / vocab);
  CHECK(b.worst_ratio <= 1.0);
  CHECK(kvc::test::row_argmax(got, vocab) == kvc::test::row_argmax(ref, vocab));
  WARN(what << ": max |Δlogit| = " << b.max_abs);
}

void check_goldens(const std::string& config) {
  golden g(config);
  INFO("config " << config << ", " << g.tokens.size() << " tokens");
  const auto m = kvc::qwen3::model::load(g.f32_dir());
  const auto vocab = std::size_t(m.config().vocab_size);
  const auto ref_logits = g.get("logits");
  // Not all zeros, not flat: the goldens can tell a wrong model from a right one.
  REQUIRE(kvc::test::nmse(std::vector<float>(ref_logits.size(), 0.0f), ref_logits) > 0.5);

  SECTION("rope tables match transformers") {
    const auto inv = g.get("inv_freq");
    REQUIRE(inv.size() == m.rope().inv_freq().size());
    CHECK(band(m.rope().inv_freq(), inv, 0.0, inv_freq_rtol).worst_ratio <= 1.0);
    CHECK(m.rope().attention_factor() ==
          Approx(g.entry->at("attention_scaling").get<double>()).epsilon(1e-7));
  }
  SECTION("f32 checkpoint: logits, per-layer intermediates, final norm") {
    const auto r = run(m, g.tokens);
    check_logits(r.logits, ref_logits, vocab, config + " f32");
    std::size_t compared = 0;
    double worst_abs = 0, worst_ratio = 0;
    for (const auto& key : g.arrays.tensors()) {
      const std::string name = key.name;
      if (!(name.starts_with("layers.") || name == "final_norm")) continue;
      INFO("intermediate " << name);
      REQUIRE(r.seen.count(name) == 1);
      const auto ref = g.get(name);
      REQUIRE(r.seen.at(name).size() == ref.size());
      const auto b = band(r.seen.at(name), ref, inter_atol, inter_rtol);
      INFO("max |Δ| = " << b.max_abs << ", worst band ratio " << b.worst_ratio);
      CHECK(b.worst_ratio <= 1.0);
      worst_abs = std::max(worst_abs, b.max_abs);
      worst_ratio = std::max(worst_ratio, b.worst_ratio);
      ++compared;
    }
    WARN(config << " f32: " << compared << " intermediates, max |Δ| = " << worst_abs << ", worst band ratio "
                << worst_ratio);
    CHECK(compared >= std::size_t(m.config().num_layers + 1));
  }
  SECTION("bf16 sharded checkpoint vs HF f32 on the same bf16 weights") {
    const auto mb = kvc::qwen3::model::load(g.bf16_dir());
    REQUIRE(mb.weights().embed.type == kvc::dtype::bf16);
    REQUIRE(mb.weights().layers[0].q_proj.type == kvc::dtype::bf16);
    const auto r = run(mb, g.tokens);
    check_logits(r.logits, g.get("logits_bf16w"), vocab, config + " bf16 weights");
    for (int l = 0; l < m.config().num_layers; ++l) {
      const std::string key = "residual_bf16w." + std::to_string(l);
      if (!g.has(key)) continue;
      INFO(key);
      CHECK(band(r.seen.at("layers." + std::to_string(l) + ".residual"), g.get(key), inter_atol, inter_rtol)
                .worst_ratio <= 1.0);
    }
    // bf16 rounding of the weights must show: the bf16 logits are not the f32 ones.
    CHECK(band(r.logits, ref_logits, logits_atol, logits_rtol).worst_ratio > 1.0);
    if (g.has("logits_hf_bf16")) {
      const auto hf = g.get("logits_hf_bf16");
      const double e = kvc::test::nmse(r.logits, hf);
      const auto a = kvc::test::row_argmax(r.logits, vocab), b = kvc::test::row_argmax(hf, vocab);
      std::size_t same = 0;
      for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
      const double top1 = double(same) / double(a.size());
      WARN(config << " vs HF native bf16: NMSE " << e << ", top-1 agreement " << top1);
      CHECK(e <= hf_bf16_nmse);
      CHECK(top1 >= hf_bf16_top1);
    }
  }
}

}  // namespace

TEST_CASE("T1 (Qwen3, untied, GQA, nh*d != hidden) matches transformers", "[model][golden]") {
  check_goldens("t1");
}
TEST_CASE("T2 (Qwen3, tied with a redundant lm_head.weight, MQA) matches transformers", "[model][golden]") {
  check_goldens("t2");
}
TEST_CASE("T3 (Qwen3, YaRN, 300 tokens > original 256) matches transformers", "[model][golden]") {
  check_goldens("t3");
}
TEST_CASE("L1 (LlamaForCausalLM, no q/k norm) matches transformers", "[model][golden]") {
  check_goldens("l1");
}
