// kvc-bench-tokenizer: Qwen3 encode/decode speed on a deterministic ~100k-token document.
// Usage: kvc-bench-tokenizer [--tokenizer PATH] [--corpus PATH] [--dump-document PATH] [benchmark flags]
// tools/bench_tokenizer_hf.py runs it next to Hugging Face `tokenizers` on the same document.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "app/text/tokenizer.hpp"
#include "app/text/utf8.hpp"

namespace {

constexpr std::size_t target_tokens = 100000;

std::string tokenizer_path = KVC_BENCH_TOKENIZER_JSON;
std::string corpus_path = KVC_BENCH_TOKENIZER_CORPUS;

/// Valid-UTF-8 strings of the golden corpus.
std::vector<std::string> load_corpus() {
  std::ifstream in(corpus_path);
  if (!in) throw std::runtime_error("cannot open corpus " + corpus_path);
  const auto j = nlohmann::json::parse(in);
  std::vector<std::string> out;
  for (const auto& c : j.at("cases")) {
    const auto hex = c.at("hex").get<std::string>();
    std::string s;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) s.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    if (kvc::qwen3::detail::is_valid_utf8(s) && !s.empty()) out.push_back(s);
  }
  return out;
}

/// The document: paragraphs of made-up words (many distinct words, so the word cache does not hide
/// BPE cost) interleaved with golden corpus strings (scripts, code, emoji), until it holds
/// `target_tokens` tokens. Fully determined by a fixed-algorithm PRNG (mt19937_64, seed 2026).
std::string make_document(const kvc::qwen3::tokenizer& tok) {
  static const char* syllables[] = {"ka", "lo", "mi", "tra", "ven", "sor", "qui", "del", "an", "bre", "tho", "ling",
                                    "est", "pra", "gu", "ment", "ri", "os", "ple", "dun", "cha", "ver", "ix", "nal",
                                    "so", "ter", "wa", "ish", "com", "ble", "ro", "fen", "ex", "ta", "ul", "ness"};
  const auto corpus = load_corpus();
  std::mt19937_64 rng(2026);
  const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::string doc;
  std::size_t tokens = 0;
  while (tokens < target_tokens) {
    std::string para;
    for (int sentence = 0; sentence < 6; ++sentence) {
      const auto words = 5 + pick(12);
      for (std::size_t w = 0; w < words; ++w) {
        std::string word;
        const auto syl = 1 + pick(4);
        for (std::size_t s = 0; s < syl; ++s) word += syllables[pick(std::size(syllables))];
        if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
        if (pick(20) == 0) word = std::to_string(rng() % 100000);
        para += word;
        para += (w + 1 == words) ? ". " : (pick(8) == 0 ? ", " : " ");
      }
    }
    para += "\n";
    para += corpus[pick(corpus.size())];
    para += "\n\n";
    tokens += tok.encode(para).size();
    doc += para;
  }
  return doc;
}

struct fixture {
  kvc::qwen3::tokenizer tok;
  std::string doc;
  std::vector<std::int32_t> ids;
};

fixture& get() {
  static fixture f = [] {
    auto tok = kvc::qwen3::tokenizer::from_file(tokenizer_path);
    auto doc = make_document(tok);
    auto ids = tok.encode(doc);
    return fixture{std::move(tok), std::move(doc), std::move(ids)};
  }();
  return f;
}

void bm_encode_warm(benchmark::State& state) {
  auto& f = get();
  for (auto _ : state) benchmark::DoNotOptimize(f.tok.encode(f.doc));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * f.ids.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.doc.size()));
  state.counters["tokens"] = static_cast<double>(f.ids.size());
}
BENCHMARK(bm_encode_warm)->Unit(benchmark::kMillisecond);

void bm_encode_cold(benchmark::State& state) {
  // A fresh tokenizer each time (load excluded), so every word goes through BPE once.
  auto& f = get();
  for (auto _ : state) {
    state.PauseTiming();
    auto fresh = kvc::qwen3::tokenizer::from_file(tokenizer_path);
    state.ResumeTiming();
    benchmark::DoNotOptimize(fresh.encode(f.doc));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * f.ids.size()));
}
BENCHMARK(bm_encode_cold)->Unit(benchmark::kMillisecond)->Iterations(3);

void bm_decode(benchmark::State& state) {
  auto& f = get();
  for (auto _ : state) benchmark::DoNotOptimize(f.tok.decode(f.ids));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * f.ids.size()));
}
BENCHMARK(bm_decode)->Unit(benchmark::kMillisecond);

void bm_load(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(kvc::qwen3::tokenizer::from_file(tokenizer_path));
}
BENCHMARK(bm_load)->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest = {argv[0]};
  std::string dump;
  for (int i = 1; i < argc; ++i) {
    const auto arg = std::string(argv[i]);
    if (arg == "--tokenizer" && i + 1 < argc) tokenizer_path = argv[++i];
    else if (arg == "--corpus" && i + 1 < argc) corpus_path = argv[++i];
    else if (arg == "--dump-document" && i + 1 < argc) dump = argv[++i];
    else rest.push_back(argv[i]);
  }
  if (!dump.empty()) {  // write the document and its ids for tools/bench_tokenizer_hf.py, then stop
    auto& f = get();
    std::ofstream(dump, std::ios::binary) << f.doc;
    std::ofstream ids(dump + ".ids.json");
    ids << nlohmann::json(f.ids).dump() << "\n";
    std::printf("%zu bytes, %zu tokens -> %s\n", f.doc.size(), f.ids.size(), dump.c_str());
    return 0;
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
