// `kvc-qwen3 search-plan`: measures each layer's sensitivity to each candidate policy on a
// calibration text and writes the per-layer plan of least predicted KL under a device-byte budget.
#include "app/search_plan_command.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>

#include <omp.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "app/cli_input.hpp"
#include "app/eval.hpp"
#include "app/gguf_import.hpp"
#include "app/plan_search.hpp"
#include "kvc/core/error.hpp"
#include "kvc/io/plan_file.hpp"
#include "kvc/policy/registry.hpp"
#include "kvc_support/text_table.hpp"

namespace kvc::qwen3 {

namespace fs = std::filesystem;

namespace {

/// One line of the per-layer report.
struct layer_row {
  int layer;
  std::string spec;
  std::size_t device_bytes;
  double kl;
  double kl_cheapest;  // the layer's KL on its cheapest candidate, to show what the choice avoided
};

const support::text_column<layer_row> layer_columns[] = {
    {"layer", [](const layer_row& r) { return std::to_string(r.layer); }},
    {"policy", [](const layer_row& r) { return r.spec; }},
    {"device bytes", [](const layer_row& r) { return std::to_string(r.device_bytes); }},
    {"measured KL", [](const layer_row& r) { return support::sci(r.kl); }},
    {"KL on cheapest", [](const layer_row& r) { return support::sci(r.kl_cheapest); }},
};

}  // namespace

int search_plan_main(int argc, char** argv) {
  CLI::App app{"kvc-qwen3 search-plan: one policy per layer, chosen from measured per-layer sensitivities to "
               "minimise the predicted KL under a device-byte budget"};
  app.name("kvc-qwen3 search-plan");
  fs::path model_path, text_file, tokens_file, tokenizer_file, output, report;
  std::vector<fs::path> sensitivities;
  std::string candidates = "full:bf16;quant:k=8,v=8;quant:k=4,v=4;quant:k=4,v=2;quant:k=2,v=2";
  std::size_t budget = 0, plan_context = 0;
  double ratio = 0;
  std::string match;
  bool verify = false;
  int threads = 0;
  eval_options o;
  o.context = 1024;
  o.prefill = 896;
  app.add_option("--model", model_path, "checkpoint directory or .gguf file")->required();
  auto* tf = app.add_option("--text", text_file, "calibration text (needs a tokenizer)");
  auto* kf = app.add_option("--tokens-file", tokens_file, "calibration token ids (whitespace or comma separated)");
  tf->excludes(kf);
  app.add_option("--tokenizer", tokenizer_file, "tokenizer.json (default: the model directory's)");
  app.add_option("--candidates", candidates, "the policies a layer may take, ';'-separated")->capture_default_str();
  auto* b = app.add_option("--budget", budget, "device bytes for the whole cache, e.g. 12MiB")
                ->transform(CLI::AsSizeValue(true));
  auto* r = app.add_option("--ratio", ratio, "budget = full bf16's device bytes / RATIO")->check(CLI::PositiveNumber);
  auto* mt = app.add_option("--match", match, "budget = the device bytes of this spec on every layer");
  b->excludes(r, mt);
  r->excludes(mt);
  app.add_option("--context", o.context, "tokens per calibration window")->capture_default_str()
      ->check(CLI::Range(2, 1 << 20));
  app.add_option("--prefill", o.prefill, "tokens of each window prefilled before scoring")->capture_default_str();
  app.add_option("--step", o.step, "tokens per teacher-forced forward call after the prefill (1: decode)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--windows", o.max_windows, "calibration windows")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--plan-context", plan_context, "tokens the bytes are planned for (default: --context)");
  app.add_option("--sensitivities", sensitivities,
                 "take the sensitivities from earlier --report files instead of measuring them (no text needed); "
                 "several reports of one protocol are merged, candidate by candidate");
  app.add_option("-o,--output", output, "the plan file to write")->required();
  app.add_option("--report", report, "also write the sensitivities and the choice as JSON");
  app.add_flag("--verify", verify, "evaluate the chosen plan on the calibration text: measured vs predicted KL");
  app.add_option("--threads", threads, "OpenMP threads (0: the OpenMP default)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    kvc::detail::require(budget > 0 || ratio > 0 || !match.empty(), "one of --budget, --ratio or --match is required");
    if (threads > 0) omp_set_num_threads(threads);
    if (plan_context == 0) plan_context = o.context;
    const fs::path model_dir = resolve_model_path(model_path);
    const model m = model::load(model_dir);
    std::vector<std::int32_t> tokens;
    if (sensitivities.empty() || verify)
      tokens = load_tokens(model_dir, text_file, tokens_file, tokenizer_file, m.config().vocab_size);
    layer_sensitivity s;
    for (std::size_t i = 0; i < sensitivities.size(); ++i) {
      const fs::path& file = sensitivities[i];
      std::ifstream in(file);
      kvc::detail::require(bool(in), "cannot read --sensitivities ", file.string());
      const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
      kvc::detail::require(!j.is_discarded() && j.is_object() && j.contains("sensitivity"), file.string(),
                           ": not a search-plan report (JSON with a 'sensitivity' object)");
      const auto one = sensitivity_from_json(j.at("sensitivity"), m.config().num_layers, file.string());
      s = i == 0 ? one : merge_sensitivities(std::move(s), one, file.string());
      plan_context = s.plan_context;
    }
    if (ratio > 0) budget = std::size_t(double(uniform_device_bytes(m, "full:bf16", plan_context)) / ratio);
    if (!match.empty()) budget = uniform_device_bytes(m, match, plan_context);
    if (sensitivities.empty()) {
      const std::vector<std::string> specs = kvc::split_policy_list(candidates);
      std::fprintf(stderr, "search-plan: %zu candidates x %d layers on %zu tokens; budget %zu device bytes at %zu tokens\n",
                   specs.size(), m.config().num_layers, tokens.size(), budget, plan_context);
      s = measure_sensitivity(m, tokens, o, specs, plan_context, progress_bar);
    }
    const std::vector<std::string>& specs = s.candidates;
    searched_plan chosen = choose_plan(s, budget);
    chosen.plan.model = model_path.filename().string() + ", searched under " + std::to_string(budget) +
                        " device bytes at " + std::to_string(plan_context) + " tokens";
    kvc::io::write_plan_file(output, chosen.plan);

    std::size_t cheapest = 0;
    for (std::size_t c = 1; c < specs.size(); ++c)
      if (s.device_bytes[c] < s.device_bytes[cheapest]) cheapest = c;
    std::vector<layer_row> rows;
    for (std::size_t l = 0; l < chosen.choice.size(); ++l) {
      const std::size_t c = std::size_t(chosen.choice[l]);
      rows.push_back({int(l), specs[c], s.device_bytes[c], s.kl[l][c], s.kl[l][cheapest]});
    }
    support::write_text_table<layer_row>(std::cout, layer_columns, rows);
    std::cout << "\nplan " << output.string() << " [" << chosen.plan.kinds() << "]: " << chosen.device_bytes
              << " device bytes of a budget of " << budget << ", " << chosen.host_bytes
              << " host bytes; predicted mean KL " << support::sci(chosen.predicted_kl)
              << " (the sum of the layers' KL, taken as additive)\n";
    nlohmann::json j = {{"sensitivity", sensitivity_to_json(s)},
                        {"budget", budget},
                        {"plan", chosen.plan.layers},
                        {"choice", chosen.choice},
                        {"device_bytes", chosen.device_bytes},
                        {"host_bytes", chosen.host_bytes},
                        {"predicted_kl", chosen.predicted_kl}};
    if (verify) {
      eval_options v = o;
      v.policies = {"plan:" + output.string()};
      const auto results = run_eval(m, tokens, v, progress_bar);
      std::cout << "verify: measured mean KL of the plan on the calibration text " << support::sci(results[1].kl_mean)
                << ", predicted " << support::sci(chosen.predicted_kl) << "\n";
      j["measured_kl"] = results[1].kl_mean;
    }
    if (!report.empty()) {
      std::ofstream out(report);
      kvc::detail::require(bool(out), "cannot write '", report.string(), "'");
      out << j.dump(2) << '\n';
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvc-qwen3 search-plan: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace kvc::qwen3
