// `kvc-qwen3 calibrate` (prompt → TailorKV plan file) and `kvc-qwen3 channel-agreement`.
#include "app/calibrate_command.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <omp.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "app/gguf_import.hpp"
#include "app/query_prediction.hpp"
#include "kvc/core/error.hpp"
#include "kvc/io/plan_file.hpp"
#include "kvc/plan/calibrate.hpp"
#include "model/model.hpp"

#ifdef KVC_QWEN3_HAVE_TEXT
#include "app/text/tokenizer.hpp"
#endif

namespace kvc::qwen3 {
namespace {

namespace fs = std::filesystem;

/// Where a prompt comes from: exactly one of the fields is used.
struct prompt_source {
  std::string tokens;        // "1,2,3"
  fs::path tokens_file;      // ids separated by commas or white space
  fs::path prompt_file;      // text, encoded as is (no chat template); needs a tokenizer
  std::string prompt;        // text
  std::size_t random_tokens = 0;
  std::uint64_t seed = 1;
  fs::path tokenizer_file;

  void add_to(CLI::App& app) {
    auto* a = app.add_option("--tokens", tokens, "prompt token ids, e.g. 1,2,3");
    auto* b = app.add_option("--tokens-file", tokens_file, "file of token ids (commas or white space)");
    auto* c = app.add_option("--prompt-file", prompt_file, "prompt text file, encoded as is (needs a tokenizer)");
    auto* d = app.add_option("--prompt", prompt, "prompt text, encoded as is (needs a tokenizer)");
    auto* e = app.add_option("--random-tokens", random_tokens, "a prompt of N uniform random token ids (see --seed)");
    for (auto* x : {a, b, c, d, e})
      for (auto* y : {a, b, c, d, e})
        if (x != y) x->excludes(y);
    app.add_option("--seed", seed, "seed of --random-tokens")->capture_default_str();
    app.add_option("--tokenizer", tokenizer_file, "tokenizer.json (default: the one in --model)");
  }

  std::vector<std::int32_t> read(const model& m, const fs::path& model_dir) const {
    std::vector<std::int32_t> ids;
    const auto parse = [&](std::istream& in, const std::string& origin) {
      std::string item;
      while (std::getline(in, item, ',')) {
        std::stringstream words(item);
        std::string w;
        while (words >> w) {
          std::size_t used = 0;
          long v = -1;
          try {
            v = std::stol(w, &used);
          } catch (const std::exception&) {
          }
          kvc::detail::require(used == w.size() && v >= 0, origin, ": '", w, "' is not a token id");
          ids.push_back(std::int32_t(v));
        }
      }
    };
    if (!tokens.empty()) {
      std::stringstream ss(tokens);
      parse(ss, "--tokens");
    } else if (!tokens_file.empty()) {
      std::ifstream in(tokens_file);
      kvc::detail::require(bool(in), "cannot read --tokens-file ", tokens_file.string());
      parse(in, tokens_file.string());
    } else if (random_tokens > 0) {
      std::mt19937_64 rng(seed);
      std::uniform_int_distribution<std::int32_t> pick(0, m.config().vocab_size - 1);
      for (std::size_t i = 0; i < random_tokens; ++i) ids.push_back(pick(rng));
    } else {
      std::string text = prompt;
      if (!prompt_file.empty()) {
        std::ifstream in(prompt_file, std::ios::binary);
        kvc::detail::require(bool(in), "cannot read --prompt-file ", prompt_file.string());
        text.assign(std::istreambuf_iterator<char>(in), {});
      }
#ifdef KVC_QWEN3_HAVE_TEXT
      fs::path tok_file = tokenizer_file.empty() ? model_dir / "tokenizer.json" : tokenizer_file;
      kvc::detail::require(fs::exists(tok_file), "a text prompt needs a tokenizer: ", tok_file.string(),
                           " is absent; pass --tokenizer FILE or give token ids");
      ids = tokenizer::from_file(tok_file).encode(text);
#else
      (void)model_dir;
      kvc::detail::fail("this kvc-qwen3 was built without the tokenizer: give token ids");
#endif
    }
    kvc::detail::require(!ids.empty(), "the prompt is empty: give --tokens, --tokens-file, --prompt-file, --prompt or --random-tokens");
    for (auto id : ids)
      kvc::detail::require(id < m.config().vocab_size, "token id ", id, " is outside the vocabulary [0, ",
                           m.config().vocab_size, ")");
    return ids;
  }
};

/// The measurement as JSON: {channels, head_dim, chance, steps, layers: [{layer, next_layer_norm,
/// own_layer_norm, keys_only, cosine_next}] for layers >= 1, mean: {the same three agreements}}.
void write_channel_agreement_json(const fs::path& path, const channel_agreement& r) {
  nlohmann::json layers = nlohmann::json::array(), mean;
  for (std::size_t l = 1; l < r.next_layer_norm.size(); ++l)
    layers.push_back({{"layer", l},
                      {"next_layer_norm", r.next_layer_norm[l]},
                      {"own_layer_norm", r.own_layer_norm[l]},
                      {"keys_only", r.keys_only[l]},
                      {"cosine_next", r.cosine_next[l]}});
  for (const char* key : {"next_layer_norm", "own_layer_norm", "keys_only"}) {
    double sum = 0;
    for (const auto& row : layers) sum += row[key].get<double>();
    mean[key] = sum / double(layers.size());
  }
  const nlohmann::json out = {{"channels", r.channels}, {"head_dim", r.head_dim}, {"chance", r.chance()},
                              {"steps", r.steps},       {"layers", layers},       {"mean", mean}};
  std::ofstream file(path);
  kvc::detail::require(bool(file), "cannot write ", path.string());
  file << out.dump(2) << '\n';
}

int guarded(const std::function<int()>& body, const char* name) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvc-qwen3 %s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace

int calibrate_main(int argc, char** argv) {
  CLI::App app{"kvc-qwen3 calibrate: TailorKV per-layer calibration on one prompt; writes a plan for "
               "--policy plan:FILE"};
  app.name("kvc-qwen3 calibrate");
  fs::path model_dir, output;
  prompt_source src;
  tailorkv_calibration_options opts;
  std::string setting = "long";
  int threads = 0;
  app.add_option("--model", model_dir, "checkpoint directory or .gguf")->required();
  src.add_to(app);
  app.add_option("-o,--output", output, "plan file to write (JSON)")->required();
  app.add_option("--bits", opts.bits, "bits of quantized layers (1 or 2)")->capture_default_str()->check(CLI::IsMember({1, 2}));
  app.add_option("--tau", opts.tau, "threshold on P: P > tau ⇒ quantized")->capture_default_str();
  app.add_option("--setting", setting, "sparse-layer setting: long (896+128, 12 ch) or short (128+64, 8 ch)")
      ->capture_default_str()->check(CLI::IsMember({"long", "short"}));
  app.add_flag("--causal", opts.metric.causal, "score with a causal mask (default: all keys, as the official code)");
  app.add_option("--threads", threads, "OpenMP threads (0: the OpenMP default)");
  CLI11_PARSE(app, argc, argv);
  return guarded([&] {
    if (threads > 0) omp_set_num_threads(threads);
    opts.setting = setting == "long" ? tailorkv_setting::long_context : tailorkv_setting::short_context;
    opts.validate();
    const auto m = model::load(resolve_model_path(model_dir));
    const auto prompt = src.read(m, model_dir);
    // One pass over the whole prompt on an exact cache: prefill attention is exact in every policy.
    auto cache = m.make_cache("full:f32");
    attention_capture cap;
    forward_capture(m, prompt, cache, logits_mode::none, opts.metric.last_queries, cap);
    const std::size_t L = std::size_t(m.config().num_layers), D = std::size_t(m.config().head_dim);
    const layer_shape shape = m.attention_shape();
    std::vector<dyn_view3> q, k;
    for (std::size_t l = 0; l < L; ++l) {
      q.push_back(tensor_view<const float, 3>(cap.q[l].data(), {cap.q_rows[l], std::size_t(shape.q_heads), D}));
      k.push_back(tensor_view<const float, 3>(cap.k[l].data(), {prompt.size(), std::size_t(shape.kv_heads), D}));
    }
    const auto result = calibrate_tailorkv(q, k, shape, opts, model_dir.filename().string());
    kvc::io::write_plan_file(output, result.plan);
    std::printf("prompt: %zu tokens; tau %.3g; %s mask\n", prompt.size(), opts.tau, opts.metric.causal ? "causal" : "no");
    if (prompt.size() < std::size_t(std::ceil(1.0 / opts.metric.top_fraction)))
      std::printf("note: under %.0f prompt tokens the top-5%% set is empty and every P is 1\n",
                  std::ceil(1.0 / opts.metric.top_fraction));
    for (std::size_t l = 0; l < L; ++l)
      std::printf("layer %2zu  P %.4f  %s\n", l, result.scores[l], result.plan.layers[l].c_str());
    std::printf("wrote %s\n", output.string().c_str());
    return 0;
  }, "calibrate");
}

int channel_agreement_main(int argc, char** argv) {
  CLI::App app{"kvc-qwen3 channel-agreement: how often next-layer query prediction picks the true "
               "dominant channels (|q|·max|K|) during greedy decode"};
  app.name("kvc-qwen3 channel-agreement");
  fs::path model_dir, output;
  prompt_source src;
  std::size_t steps = 32;
  int channels = 8, threads = 0;
  app.add_option("--model", model_dir, "checkpoint directory or .gguf")->required();
  src.add_to(app);
  app.add_option("--steps", steps, "greedy decode steps measured")->capture_default_str();
  app.add_option("--channels", channels, "d_s, dominant channels per KV head")->capture_default_str();
  app.add_option("-o,--output", output, "also write the per-layer values and means to this JSON file");
  app.add_option("--threads", threads, "OpenMP threads (0: the OpenMP default)");
  CLI11_PARSE(app, argc, argv);
  return guarded([&] {
    if (threads > 0) omp_set_num_threads(threads);
    const auto m = model::load(resolve_model_path(model_dir));
    const auto prompt = src.read(m, model_dir);
    const auto r = measure_channel_agreement(m, prompt, steps, channels);
    std::printf("prompt %zu tokens, %zu decode steps, d_s = %d of head_dim %d (chance %.3f)\n", prompt.size(), steps,
                channels, r.head_dim, r.chance());
    std::printf("layer  next-norm predictor  own-norm predictor  max|K| only  cos(pred, true)\n");
    double a = 0, b = 0, s = 0;
    for (std::size_t l = 1; l < r.next_layer_norm.size(); ++l) {
      std::printf("%5zu  %19.3f  %18.3f  %11.3f  %15.3f\n", l, r.next_layer_norm[l], r.own_layer_norm[l], r.keys_only[l],
                  r.cosine_next[l]);
      a += r.next_layer_norm[l];
      b += r.own_layer_norm[l];
      s += r.keys_only[l];
    }
    const double n = double(r.next_layer_norm.size() - 1);
    std::printf(" mean  %19.3f  %18.3f  %11.3f\n", a / n, b / n, s / n);
    if (!output.empty()) write_channel_agreement_json(output, r);
    return 0;
  }, "channel-agreement");
}

}  // namespace kvc::qwen3
