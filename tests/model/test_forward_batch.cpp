// forward_batch over many sequences equals running each sequence alone through forward: varlen
// prefill, batched decode, a forked shared prefix, sequences leaving the batch, truncation.
#include <catch2/catch.hpp>

#include <span>
#include <string>
#include <vector>

#include "golden.hpp"
#include "kvc/core/error.hpp"
#include "model/model.hpp"

namespace {

using kvc::seq_id;
using kvc::seq_run;
using kvc::test::band;
using kvc::test::golden;
using kvc::qwen3::logits_mode;

// A batch row vs the same sequence run alone, both C++ f32 with a full:f32 cache: only the
// summation order differs (matmul over more rows, the cache's batched attention), the band of
// test_decode's decode-vs-prefill: |Δ| ≤ batch_atol + batch_rtol·|ref|.
constexpr double batch_atol = 1e-5, batch_rtol = 1e-5;

using token_list = std::vector<std::int32_t>;

/// The last-token logits // [vocab] of `prompt` and then of each of `steps` fed one at a time,
/// for one sequence alone on a fresh cache.
std::vector<std::vector<float>> alone(const kvc::qwen3::model& m, const token_list& prompt, const token_list& steps) {
  auto cache = m.make_cache("full:f32");
  std::vector<std::vector<float>> out{m.forward(prompt, cache, logits_mode::last)};
  for (const std::int32_t t : steps) out.push_back(m.forward(std::span(&t, 1), cache, logits_mode::last));
  return out;
}

/// Row `row` of logits // [rows, vocab].
std::span<const float> row_of(const std::vector<float>& logits, std::size_t row, std::size_t vocab) {
  return std::span<const float>(logits).subspan(row * vocab, vocab);
}

void check_close(std::span<const float> got, std::span<const float> ref, const std::string& what) {
  INFO(what);
  REQUIRE(got.size() == ref.size());
  const auto b = band(got, ref, batch_atol, batch_rtol);
  CHECK(b.worst_ratio <= 1.0);
}

/// Three sequences of different lengths (one of them the default sequence) prefilled as one
/// varlen batch and then decoded together, one sequence leaving the batch after two steps.
void check_batch_equals_alone(const std::string& config) {
  golden g(config);
  const auto m = kvc::qwen3::model::load(g.f32_dir());
  const auto V = std::size_t(m.config().vocab_size);
  const token_list& t = g.tokens;
  const std::vector<seq_id> ids{seq_id{7}, kvc::default_seq, seq_id{3}};
  REQUIRE(t.size() >= 33);
  const std::vector<token_list> prompts{{t.begin(), t.begin() + 9}, {t.begin() + 4, t.begin() + 21}, {t[30]}};
  const std::vector<token_list> steps{{t[22], t[23], t[24]}, {t[25], t[26]}, {t[27], t[28], t[29]}};

  std::vector<std::vector<std::vector<float>>> ref;
  for (std::size_t s = 0; s < ids.size(); ++s) ref.push_back(alone(m, prompts[s], steps[s]));

  auto cache = m.make_cache("full:f32");
  token_list tokens;
  std::vector<seq_run> runs;
  for (std::size_t s = 0; s < ids.size(); ++s) {
    tokens.insert(tokens.end(), prompts[s].begin(), prompts[s].end());
    runs.push_back({ids[s], prompts[s].size()});
  }
  const auto first = m.forward_batch(tokens, runs, cache);
  REQUIRE(first.size() == ids.size() * V);
  for (std::size_t s = 0; s < ids.size(); ++s)
    check_close(row_of(first, s, V), ref[s][0], config + ": varlen prefill, sequence " + std::to_string(s));
  for (std::size_t s = 0; s < ids.size(); ++s) CHECK(cache.size(0, ids[s]) == prompts[s].size());

  // Batched decode; sequence 1 (the default one) has two steps, the others three.
  for (std::size_t step = 0; step < 3; ++step) {
    tokens.clear();
    runs.clear();
    std::vector<std::size_t> in_batch;
    for (std::size_t s = 0; s < ids.size(); ++s) {
      if (step >= steps[s].size()) continue;
      tokens.push_back(steps[s][step]);
      runs.push_back({ids[s], 1});
      in_batch.push_back(s);
    }
    const auto logits = m.forward_batch(tokens, runs, cache);
    REQUIRE(logits.size() == in_batch.size() * V);
    for (std::size_t i = 0; i < in_batch.size(); ++i) {
      const std::size_t s = in_batch[i];
      check_close(row_of(logits, i, V), ref[s][step + 1],
                  config + ": decode step " + std::to_string(step) + ", sequence " + std::to_string(s));
    }
  }
  for (std::size_t s = 0; s < ids.size(); ++s) CHECK(cache.size(0, ids[s]) == prompts[s].size() + steps[s].size());
}

}  // namespace

TEST_CASE("forward_batch equals each sequence alone (T1, GQA)", "[model][batch]") { check_batch_equals_alone("t1"); }
TEST_CASE("forward_batch equals each sequence alone (T2, MQA)", "[model][batch]") { check_batch_equals_alone("t2"); }
TEST_CASE("forward_batch equals each sequence alone (L1, Llama)", "[model][batch]") { check_batch_equals_alone("l1"); }

TEST_CASE("a forked prefix with batched remainders equals each prompt alone", "[model][batch]") {
  golden g("t1");
  const auto m = kvc::qwen3::model::load(g.f32_dir());
  const auto V = std::size_t(m.config().vocab_size);
  const token_list& t = g.tokens;
  REQUIRE(t.size() >= 33);
  const token_list prefix(t.begin(), t.begin() + 12);
  const std::vector<token_list> rests{{t[20], t[21], t[22]}, {t[30]}, {t[31], t[32]}};

  auto cache = m.make_cache("full:f32");
  const seq_id shared{100};
  m.forward_batch(prefix, std::vector<seq_run>{{shared, prefix.size()}}, cache);
  const auto before = cache.footprint().total();
  token_list tokens;
  std::vector<seq_run> runs;
  for (std::size_t s = 0; s < rests.size(); ++s) {
    cache.fork(shared, seq_id(std::uint32_t(s + 1)));
    tokens.insert(tokens.end(), rests[s].begin(), rests[s].end());
    runs.push_back({seq_id(std::uint32_t(s + 1)), rests[s].size()});
  }
  cache.remove(shared);
  CHECK(cache.footprint().total() == before);  // the forks share the prefix's pages
  const auto logits = m.forward_batch(tokens, runs, cache);
  for (std::size_t s = 0; s < rests.size(); ++s) {
    token_list whole = prefix;
    whole.insert(whole.end(), rests[s].begin(), rests[s].end());
    check_close(row_of(logits, s, V), alone(m, whole, {})[0], "fork " + std::to_string(s));
    CHECK(cache.size(0, runs[s].seq) == whole.size());
  }

  // Truncating a sequence back and feeding the same tokens again gives the same logits.
  cache.truncate(runs[0].seq, prefix.size());
  const auto again = m.forward_batch(rests[0], std::vector<seq_run>{runs[0]}, cache);
  check_close(again, row_of(logits, 0, V), "after truncate");
}

TEST_CASE("forward_batch rejects runs that do not match the tokens", "[model][batch]") {
  golden g("t1");
  const auto m = kvc::qwen3::model::load(g.f32_dir());
  auto cache = m.make_cache("full:f32");
  const token_list tokens{1, 2, 3};
  CHECK_THROWS_WITH(m.forward_batch(tokens, std::vector<seq_run>{{seq_id{1}, 2}}, cache),
                    Catch::Contains("the runs hold 2 tokens, 3 were given"));
  CHECK_THROWS_WITH(m.forward_batch(tokens, std::vector<seq_run>{{seq_id{1}, 3}, {seq_id{2}, 0}}, cache),
                    Catch::Contains("has no tokens"));
  CHECK(m.forward_batch({}, {}, cache).empty());
}
