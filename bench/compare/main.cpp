// kvc-bench: the policy comparison suite (`kvc-bench compare`).
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <omp.h>

#include "compare/report.hpp"
#include "compare/run_compare.hpp"
#include "kvc/core/error.hpp"
#include "kvc/policy/registry.hpp"

namespace {

/// Progress on stderr, only when it is a terminal.
void show_progress(std::string_view what, std::size_t done, std::size_t total) {
  static const bool tty = isatty(fileno(stderr));
  if (!tty) return;
  std::fprintf(stderr, "\r\033[K%.*s %zu/%zu", int(what.size()), what.data(), done, total);
  if (done == total) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvc-bench: compare KV-cache policies on bytes, error, recall and speed"};
  app.require_subcommand(1);
  auto* compare = app.add_subcommand("compare", "run policies on one synthetic workload");
  kvc::bench::compare_options o;
  std::string policies = "full:bf16,full:f16,full:f32";
  std::string format = "table", output;
  int threads = 0;
  compare->add_option("--policies", policies, "policy specs, e.g. full:bf16,quant:k=2,v=2")->capture_default_str();
  compare->add_option("--context", o.context, "tokens in the cache before decoding")->capture_default_str()->check(CLI::Range(1, 1 << 22));
  compare->add_option("--steps", o.steps, "decode steps timed and checked")->capture_default_str()->check(CLI::Range(1, 4096));
  compare->add_option("--seed", o.seed, "workload seed")->capture_default_str();
  compare->add_option("--q-heads", o.shape.q_heads)->capture_default_str();
  compare->add_option("--kv-heads", o.shape.kv_heads)->capture_default_str();
  compare->add_option("--head-dim", o.shape.head_dim)->capture_default_str();
  compare->add_flag("--dense", o.dense, "spread attention (no sinks or heavy hitters)");
  compare->add_option("--threads", threads, "OpenMP threads (0: all)");
  compare->add_option("--format", format, "table, json or csv")->check(CLI::IsMember({"table", "json", "csv"}))->capture_default_str();
  compare->add_option("-o,--output", output, "write to this file instead of stdout");
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) omp_set_num_threads(threads);
    o.shape.validate();
    o.policies = kvc::split_policy_list(policies);
    const auto results = kvc::bench::run_compare(o, show_progress);
    std::ofstream file;
    if (!output.empty()) {
      file.open(output);
      if (!file) throw kvc::error("cannot write '" + output + "'");
    }
    std::ostream& os = output.empty() ? std::cout : file;
    if (format == "json") kvc::bench::write_json(os, results);
    else if (format == "csv") kvc::bench::write_csv(os, results);
    else kvc::bench::write_table(os, results);
  } catch (const kvc::error& e) {
    std::cerr << "kvc-bench: " << e.what() << '\n';
    return 2;
  }
  return 0;
}
