// kvc-bench compare --trace: replays a recorded KV trace through every policy, per layer.
#pragma once

#include <cstddef>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "compare/run_compare.hpp"
#include "kvc/io/kv_trace.hpp"

namespace kvc::bench {

/// One policy on a trace: `overall` aggregates every layer (same fields as the synthetic
/// compare; context = tokens before decoding), plus the error and recall of each layer.
struct trace_result {
  policy_result overall;
  std::vector<double> layer_error;   // [layers] ‖out − exact‖ / ‖exact‖ over the decode steps
  std::vector<double> layer_recall;  // [layers] mean exact mass on attended tokens; -1: attends all
};

/// For each policy and layer: appends the first T − steps tokens (append, chunks of 4096), then
/// decodes the last `steps` one at a time (append_and_attend) and compares each output with the
/// f64 oracle over all tokens so far. Throws kvc::error when steps >= T.
std::vector<trace_result> run_trace_compare(const kvc::io::kv_trace& trace, const std::vector<std::string>& policies,
                                            std::size_t steps, const progress_fn& progress);

/// The overall rows (the compare table), then a layers × policies table of errors (and recall
/// for policies that attend a subset).
void write_trace_table(std::ostream& os, const std::vector<trace_result>& results);
void write_trace_json(std::ostream& os, const std::vector<trace_result>& results);
/// One row per (policy, layer), layer "all" for the overall row.
void write_trace_csv(std::ostream& os, const std::vector<trace_result>& results);

}  // namespace kvc::bench
