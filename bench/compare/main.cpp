// kvc-bench: the policy comparison suite (`kvc-bench compare`, `kvc-bench batch`).
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <omp.h>

#include "compare/report.hpp"
#include "compare/run_batch.hpp"
#include "compare/run_compare.hpp"
#include "compare/trace_compare.hpp"
#include "kvc/core/error.hpp"
#include "kvc/policy/registry.hpp"
#include "kvc_support/svg_plot.hpp"

namespace {

/// Progress on stderr, only when it is a terminal.
void show_progress(std::string_view what, std::size_t done, std::size_t total) {
  static const bool tty = isatty(fileno(stderr));
  if (!tty) return;
  std::fprintf(stderr, "\r\033[K%.*s %zu/%zu", int(what.size()), what.data(), done, total);
  if (done == total) std::fputc('\n', stderr);
  std::fflush(stderr);
}

/// Writes `write(os)` to `path`, or to stdout when `path` is empty.
template <class Write>
void write_output(const std::string& path, Write&& write) {
  if (path.empty()) return write(std::cout);
  std::ofstream file(path);
  if (!file) throw kvc::error("cannot write '" + path + "'");
  write(file);
}

/// The SVG plot of compression ratio vs attention error, one point per policy.
void write_plot(const std::string& path, std::vector<kvc::support::plot_point> points, std::string title) {
  kvc::support::plot_options po;
  po.title = std::move(title);
  po.y_label = "attention output relative error vs f64 (log)";
  kvc::support::write_svg_scatter(path, points, po);
}

/// Every policy kind with its usual settings: the default list of `kvc-bench compare`.
constexpr const char* default_policies =
    "full:bf16;full:f32;quant:k=8,v=8;quant:k=4,v=4;quant:k=2,v=2;quant:k=1,v=1;"
    "sparse:selector=exact;sparse:selector=channels;sparse:selector=pages;tailorkv:calibrate=1";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvc-bench: compare KV-cache policies on bytes, error, recall and speed"};
  app.require_subcommand(1);
  auto* compare = app.add_subcommand("compare", "run policies on one synthetic workload");
  kvc::bench::compare_options o;
  std::string policies = default_policies;
  std::string format = "table", output, plot, trace;
  int threads = 0;
  compare->add_option("--policies", policies, "policy specs, e.g. full:bf16,quant:k=2,v=2")->capture_default_str();
  compare->add_option("--context", o.context, "tokens in the cache before decoding")->capture_default_str()->check(CLI::Range(1, 1 << 22));
  compare->add_option("--steps", o.steps, "decode steps timed and checked")->capture_default_str()->check(CLI::Range(1, 4096));
  compare->add_option("--seed", o.seed, "workload seed")->capture_default_str();
  compare->add_option("--q-heads", o.shape.q_heads)->capture_default_str();
  compare->add_option("--kv-heads", o.shape.kv_heads)->capture_default_str();
  compare->add_option("--head-dim", o.shape.head_dim)->capture_default_str();
  compare->add_flag("--dense", o.dense, "spread attention (no sinks or heavy hitters)");
  compare->add_option("--layers", o.layers, "layers of the synthetic model (bytes summed over layers)")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  compare->add_option("--dense-layers", o.dense_layers, "layers generated dense, e.g. 0,1 (the rest sparse)")
      ->delimiter(',');
  compare->add_flag("--prefetch-hints", o.prefetch_hints, "give each layer its true next query via prefetch_hint first");
  compare->add_option("--heavy-strength", o.heavy_strength, "heavy-hitter strength of sparse layers")->capture_default_str();
  compare->add_option("--heavy-fraction", o.heavy_fraction, "share of heavy-hitter tokens in sparse layers")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  compare->add_option("--threads", threads, "OpenMP threads (0: all)");
  compare->add_option("--format", format, "table, json or csv")->check(CLI::IsMember({"table", "json", "csv"}))->capture_default_str();
  compare->add_option("-o,--output", output, "write to this file instead of stdout");
  compare->add_option("--trace", trace, "replay this KV trace (kvc-qwen3 --dump-kv) instead of the synthetic "
                     "workload: the last --steps tokens of every layer are decoded");
  compare->add_option("--plot", plot, "also write an SVG plot of compression ratio vs attention error");
  auto* batch = app.add_subcommand("batch", "decode many sequences of mixed lengths together, vs separate caches");
  kvc::bench::batch_options bo;
  std::string batch_policies = "full:bf16;quant:k=4,v=4;quant:k=2,v=2;sparse:selector=channels";
  batch->add_option("--policies", batch_policies, "policy specs")->capture_default_str();
  batch->add_option("--sequences", bo.sequences, "sequences decoded together")->capture_default_str()->check(CLI::Range(1, 4096));
  batch->add_option("--min-context", bo.min_context, "tokens of the shortest sequence")->capture_default_str()->check(CLI::Range(1, 1 << 22));
  batch->add_option("--max-context", bo.max_context, "tokens of the longest (lengths spread evenly)")->capture_default_str()->check(CLI::Range(1, 1 << 22));
  batch->add_option("--single-context", bo.single_context, "tokens of the one-sequence baseline")->capture_default_str()->check(CLI::Range(1, 1 << 22));
  batch->add_option("--steps", bo.steps, "decode steps timed")->capture_default_str()->check(CLI::Range(1, 4096));
  batch->add_option("--seed", bo.seed)->capture_default_str();
  batch->add_option("--q-heads", bo.shape.q_heads)->capture_default_str();
  batch->add_option("--kv-heads", bo.shape.kv_heads)->capture_default_str();
  batch->add_option("--head-dim", bo.shape.head_dim)->capture_default_str();
  batch->add_option("--threads", threads, "OpenMP threads (0: all)");
  batch->add_option("--format", format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  batch->add_option("-o,--output", output, "write to this file instead of stdout");
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) omp_set_num_threads(threads);
    if (batch->parsed()) {
      bo.policies = kvc::split_policy_list(batch_policies);
      const auto results = kvc::bench::run_batch(bo, show_progress);
      write_output(output, [&](std::ostream& os) {
        if (format == "json") kvc::bench::write_batch_json(os, bo, results);
        else kvc::bench::write_batch_table(os, bo, results);
      });
      return 0;
    }
    o.shape.validate();
    o.policies = kvc::split_policy_list(policies);
    if (!trace.empty()) {  // recorded q/k/v (bench/compare/trace_compare)
      const auto t = kvc::io::read_kv_trace(trace);
      const auto tr = kvc::bench::run_trace_compare(t, o.policies, o.steps, show_progress);
      write_output(output, [&](std::ostream& os) {
        if (format == "json") kvc::bench::write_trace_json(os, tr);
        else if (format == "csv") kvc::bench::write_trace_csv(os, tr);
        else kvc::bench::write_trace_table(os, tr);
      });
      if (!plot.empty()) {
        std::vector<kvc::support::plot_point> points;
        for (const auto& r : tr) points.push_back({r.overall.policy, r.overall.compression_ratio, r.overall.attn_rel_error, {}});
        write_plot(plot, std::move(points), "kvc-bench compare: trace " + trace);
      }
      return 0;
    }
    const auto results = kvc::bench::run_compare(o, show_progress);
    write_output(output, [&](std::ostream& os) {
      if (format == "json") kvc::bench::write_json(os, results);
      else if (format == "csv") kvc::bench::write_csv(os, results);
      else kvc::bench::write_table(os, results);
    });
    if (!plot.empty()) {
      std::vector<kvc::support::plot_point> points;
      for (const auto& r : results) points.push_back({r.policy, r.compression_ratio, r.attn_rel_error, {}});
      write_plot(plot, std::move(points), "kvc-bench compare: context " + std::to_string(o.context));
    }
  } catch (const kvc::error& e) {
    std::cerr << "kvc-bench: " << e.what() << '\n';
    return 2;
  }
  return 0;
}
