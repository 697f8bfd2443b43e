// Incremental decode through the KV cache equals full prefill; greedy generation with f32 vs bf16 caches.
#include <catch2/catch.hpp>

#include <algorithm>

#include "golden.hpp"
#include "model/model.hpp"

namespace {

using kvc::test::band;
using kvc::test::golden;
using kvc::qwen3::logits_mode;

// Decode (one token at a time through the cache) vs one prefill of the same tokens, both C++ f32
// with a full:f32 cache: only the cache's attention summation order differs, so
// |Δ| ≤ decode_atol + decode_rtol·|ref|.
constexpr double decode_atol = 1e-5, decode_rtol = 1e-5;
// The same decode against HF's golden logits: the f32 band of test_goldens.
constexpr double hf_atol = 1e-4, hf_rtol = 1e-4;
// full:bf16 cache vs full:f32 cache, teacher-forced on the same tokens: K and V rounded to bf16
// (relative error 2^-9) perturb logits by about that much; NMSE ≤ bf16_cache_nmse.
constexpr double bf16_cache_nmse = 1e-3;

std::vector<float> decode_all(const kvc::qwen3::model& m, const std::vector<std::int32_t>& tokens,
                              std::size_t prefill, const char* spec) {
  auto cache = m.make_cache(spec);
  const auto V = std::size_t(m.config().vocab_size);
  std::vector<float> out;
  const std::span<const std::int32_t> all(tokens);
  out = m.forward(all.first(prefill), cache, logits_mode::all);
  for (std::size_t i = prefill; i < tokens.size(); ++i) {
    const auto step = m.forward(all.subspan(i, 1), cache, logits_mode::last);
    REQUIRE(step.size() == V);
    out.insert(out.end(), step.begin(), step.end());
  }
  REQUIRE(cache.size(0) == tokens.size());
  return out;
}

void check_decode(const std::string& config, std::size_t prefill) {
  golden g(config);
  const auto m = kvc::qwen3::model::load(g.f32_dir());
  INFO(config << ": prefill " << prefill << " then " << g.tokens.size() - prefill << " single steps");
  auto cache = m.make_cache("full:f32");
  const auto full = m.forward(g.tokens, cache, logits_mode::all);
  const auto dec = decode_all(m, g.tokens, prefill, "full:f32");
  REQUIRE(dec.size() == full.size());
  const auto b = band(dec, full, decode_atol, decode_rtol);
  WARN(config << ": max |Δlogit| decode vs prefill = " << b.max_abs);
  CHECK(b.worst_ratio <= 1.0);
  CHECK(band(dec, g.get("logits"), hf_atol, hf_rtol).worst_ratio <= 1.0);

  // Chunked prefill (7 tokens per call) is the same computation again.
  auto chunked_cache = m.make_cache("full:f32");
  std::vector<float> chunked;
  for (std::size_t i = 0; i < g.tokens.size(); i += 7) {
    const auto n = std::min<std::size_t>(7, g.tokens.size() - i);
    const auto part = m.forward(std::span<const std::int32_t>(g.tokens).subspan(i, n), chunked_cache);
    chunked.insert(chunked.end(), part.begin(), part.end());
  }
  CHECK(band(chunked, full, decode_atol, decode_rtol).worst_ratio <= 1.0);
}

std::vector<std::int32_t> greedy(const kvc::qwen3::model& m, std::vector<std::int32_t> prompt, int steps,
                                 const char* spec) {
  auto cache = m.make_cache(spec);
  const auto V = std::size_t(m.config().vocab_size);
  auto logits = m.forward(prompt, cache, logits_mode::last);
  std::vector<std::int32_t> out;
  for (int s = 0; s < steps; ++s) {
    const auto next = std::int32_t(std::max_element(logits.begin(), logits.begin() + V) - logits.begin());
    out.push_back(next);
    const std::int32_t one[] = {next};
    logits = m.forward(one, cache, logits_mode::last);
  }
  return out;
}

}  // namespace

TEST_CASE("decode through the cache equals prefill (T1, GQA)", "[model][decode]") { check_decode("t1", 5); }
TEST_CASE("decode through the cache equals prefill (T2, MQA)", "[model][decode]") { check_decode("t2", 1); }
TEST_CASE("decode through the cache equals prefill (T3, YaRN past 256)", "[model][decode]") {
  check_decode("t3", 240);
}
TEST_CASE("decode through the cache equals prefill (L1, Llama)", "[model][decode]") { check_decode("l1", 9); }

TEST_CASE("greedy generation with a full:bf16 cache tracks full:f32", "[model][decode]") {
  golden g("t1");
  const auto m = kvc::qwen3::model::load(g.f32_dir());
  const std::vector<std::int32_t> prompt(g.tokens.begin(), g.tokens.begin() + 12);
  const int steps = 20;
  const auto a = greedy(m, prompt, steps, "full:f32");
  const auto b = greedy(m, prompt, steps, "full:bf16");
  std::size_t same_prefix = 0;
  while (same_prefix < a.size() && a[same_prefix] == b[same_prefix]) ++same_prefix;
  WARN("greedy f32 vs bf16 cache: identical for the first " << same_prefix << " of " << steps << " tokens");
  // The first token comes from the prefill, where attention among the new tokens is exact.
  CHECK(a.front() == b.front());

  // Teacher-forced on the f32 run's tokens: the bf16 cache's logits stay close, but are not identical.
  std::vector<std::int32_t> seq = prompt;
  seq.insert(seq.end(), a.begin(), a.end());
  const auto lf = decode_all(m, seq, prompt.size(), "full:f32");
  const auto lb = decode_all(m, seq, prompt.size(), "full:bf16");
  const double e = kvc::test::nmse(lb, lf);
  WARN("teacher-forced NMSE bf16 vs f32 cache: " << e);
  CHECK(e <= bf16_cache_nmse);
  CHECK(e > 0.0);

  auto cf = m.make_cache("full:f32"), cb = m.make_cache("full:bf16");
  m.forward(seq, cf, logits_mode::none);
  m.forward(seq, cb, logits_mode::none);
  CHECK(cb.footprint().total() < cf.footprint().total());
  // the tokens held take exactly half the bytes
  CHECK(2 * cb.footprint().held_device_bytes() == cf.footprint().held_device_bytes());
  CHECK(cb.footprint().held_device_bytes() > 0);
}

TEST_CASE("next-layer query prediction reaches the cache without changing the result", "[model][decode]") {
  golden g("t1");
  auto m = kvc::qwen3::model::load(g.f32_dir());
  // A sparse cache whose channels selector takes the hint: it picks the channels of the
  // predicted query (instead of the step's own) and copies their rows at hint time, so the hint
  // changes which host tokens a step attends. Few resident and top-k tokens leave every layer
  // host tokens to select from.
  const char* sparse = "sparse:selector=channels,topk=2,sink=1,window=1,channels=4,dtype=f32";
  const auto plain = decode_all(m, g.tokens, 5, "full:f32");
  const auto sparse_plain = decode_all(m, g.tokens, 5, sparse);
  m.set_query_prediction(true);
  REQUIRE(m.query_prediction());
  // full:f32 ignores the hint, so the logits must be the same computation exactly.
  CHECK(decode_all(m, g.tokens, 5, "full:f32") == plain);
  // Everything else being deterministic, a forward that never called prefetch_hint would give
  // the sparse cache's logits exactly as they were.
  CHECK(decode_all(m, g.tokens, 5, sparse) != sparse_plain);
}
