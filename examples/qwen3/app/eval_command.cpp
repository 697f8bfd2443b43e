// `kvc-qwen3 eval`: teacher-forced KL / ΔPPL / top-1 of cache policies on a model, passkey check,
// baseline logits dump; table, JSON, CSV and an SVG plot.
#include "app/eval_command.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>

#include <omp.h>

#include <CLI/CLI.hpp>

#include "app/cli_input.hpp"
#include "app/eval.hpp"
#include "app/gguf_import.hpp"
#include "kvc/core/error.hpp"
#include "kvc/io/safetensors_writer.hpp"
#include "kvc/policy/registry.hpp"
#include "kvc_support/svg_plot.hpp"

#ifdef KVC_QWEN3_HAVE_TEXT
#include "app/text/tokenizer.hpp"
#endif

namespace kvc::qwen3 {

namespace fs = std::filesystem;

int eval_main(int argc, char** argv) {
  CLI::App app{"kvc-qwen3 eval: teacher-forced KL divergence, dPPL and top-1 agreement of KV-cache policies "
               "against the full cache"};
  app.name("kvc-qwen3 eval");
  fs::path model_path, text_file, tokens_file, tokenizer_file, output, plot, logits_out;
  std::string policies = "full:bf16";
  std::string format = "table";
  eval_options o;
  int threads = 0;
  bool needle = false;
  needle_options no;
  app.add_option("--model", model_path, "checkpoint directory or .gguf file")->required();
  auto* tf = app.add_option("--text", text_file, "evaluate on this text file (needs a tokenizer)");
  auto* kf = app.add_option("--tokens-file", tokens_file, "evaluate on token ids (whitespace or comma separated)");
  tf->excludes(kf);
  app.add_option("--tokenizer", tokenizer_file, "tokenizer.json (default: the model directory's)");
  app.add_option("--policies", policies, "policy specs to evaluate, e.g. quant:k=4,v=4,sparse:selector=exact")
      ->capture_default_str();
  app.add_option("--baseline", o.baseline, "the reference cache")->capture_default_str();
  app.add_option("--context", o.context, "tokens per window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  app.add_option("--prefill", o.prefill, "tokens of each window prefilled before scoring (0: context/2)")
      ->capture_default_str();
  app.add_option("--step", o.step, "tokens per teacher-forced forward call (1: decode)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--windows", o.max_windows, "windows of --context tokens to evaluate")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--format", format, "table, json or csv")->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  app.add_option("-o,--output", output, "write results to this file instead of stdout");
  app.add_option("--plot", plot, "also write an SVG plot of compression ratio vs mean KL");
  app.add_option("--threads", threads, "OpenMP threads (0: the OpenMP default)");
  app.add_option("--logits-out", logits_out,
                 "only write the baseline's logits of the first --context tokens (one forward call) to "
                 "this safetensors file (tensors 'logits' [T, vocab] f32 and 'tokens' [T] i32)");
  app.add_flag("--needle", needle, "also run the passkey retrieval check per policy (needs a tokenizer)");
  app.add_option("--needle-tokens", no.filler_tokens, "haystack length in tokens")->capture_default_str();
  app.add_option("--needle-depths", no.depths, "relative depths of the passkey")->delimiter(',')
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (threads > 0) omp_set_num_threads(threads);
    const fs::path model_dir = resolve_model_path(model_path);
    const model m = model::load(model_dir);
    const std::vector<std::int32_t> tokens =
        load_tokens(model_dir, text_file, tokens_file, tokenizer_file, m.config().vocab_size);

    if (!logits_out.empty()) {
      const std::size_t n = std::min(tokens.size(), o.context);
      auto cache = m.make_cache(o.baseline);
      const auto logits = m.forward(std::span<const std::int32_t>(tokens).first(n), cache, logits_mode::all);
      const kvc::io::tensor_to_write t[] = {
          {"logits", "F32", {std::int64_t(n), std::int64_t(m.config().vocab_size)}, std::as_bytes(std::span(logits))},
          {"tokens", "I32", {std::int64_t(n)}, std::as_bytes(std::span(tokens).first(n))}};
      kvc::io::write_safetensors(logits_out, t, {{"baseline", o.baseline}});
      std::fprintf(stderr, "wrote %zu x %d logits to %s\n", n, m.config().vocab_size, logits_out.string().c_str());
      return 0;
    }

    o.policies = kvc::split_policy_list(policies);
    const auto results = run_eval(m, tokens, o, progress_bar);
    std::ofstream file;
    if (!output.empty()) {
      file.open(output);
      kvc::detail::require(bool(file), "cannot write '", output.string(), "'");
    }
    std::ostream& os = output.empty() ? std::cout : file;
    if (format == "json") write_eval_json(os, results);
    else if (format == "csv") write_eval_csv(os, results);
    else write_eval_table(os, results);
    if (!plot.empty()) {
      std::vector<kvc::support::plot_point> pts;
      for (std::size_t i = 1; i < results.size(); ++i)  // the baseline row is the reference
        pts.push_back({results[i].policy, results[i].compression_ratio, results[i].kl_mean,
                       results[i].policy.starts_with("plan:") ? "per-layer plans" : "uniform policies"});
      kvc::support::plot_options po;
      po.title = "KV-cache policies on " + model_path.filename().string() + ", context " + std::to_string(o.context);
      po.y_label = "mean KL divergence vs " + o.baseline + " (nats, log)";
      kvc::support::write_svg_scatter(plot, pts, po);
    }
    if (needle) {
#ifdef KVC_QWEN3_HAVE_TEXT
      const fs::path tok_file = find_tokenizer(model_dir, tokenizer_file);
      kvc::detail::require(!tok_file.empty(), "--needle needs a tokenizer: pass --tokenizer FILE");
      const tokenizer tok_obj = tokenizer::from_file(tok_file);
      const tokenizer* tok = &tok_obj;
      no.policies = o.policies;
      const auto nr = run_needle(
          m, no, [&](std::string_view s) { return tok->encode(s); },
          [&](std::span<const std::int32_t> ids) { return tok->decode(ids, true); }, progress_bar);
      os << "\npasskey retrieval (" << no.filler_tokens << " filler tokens, greedy)\n";
      for (const auto& r : nr) {
        std::string answer = r.answer;
        for (auto& c : answer)
          if (c == '\n') c = ' ';
        os << (r.found ? "PASS " : "FAIL ") << r.policy << " depth " << r.depth << " key " << r.passkey
           << " answer '" << answer << "'\n";
      }
#else
      kvc::detail::fail("--needle needs the tokenizer (examples/qwen3/app/text)");
#endif
    }
  } catch (const kvc::error& e) {
    std::fprintf(stderr, "kvc-qwen3 eval: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvc-qwen3 eval: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace kvc::qwen3
