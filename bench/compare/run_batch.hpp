// kvc-bench batch: many sequences of mixed lengths decoded together in one cache, against the
// same work as separate caches and against one long sequence, per policy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/core/layer_shape.hpp"

namespace kvc::bench {

struct batch_options {
  layer_shape shape{32, 8, 128};  // Qwen3-8B layer shape
  std::size_t sequences = 16;
  std::size_t min_context = 1024, max_context = 16384;  // lengths spread evenly between these
  std::size_t single_context = 32768;                   // the one-sequence baseline
  std::size_t steps = 16;                               // decode steps timed (median)
  std::uint64_t seed = 1;
  std::vector<std::string> policies{"full:bf16"};
  std::size_t read_bw_bytes = std::size_t(1) << 30;
};

/// One way of running the decode steps: `batched` (one cache, one varlen call per step),
/// `separate` (one cache per sequence, one call each), `single` (one sequence of single_context).
struct batch_mode_result {
  double step_ms = 0;            // median wall time of one decode step (all sequences)
  double tokens_per_second = 0;  // sequences ÷ step time
  double bytes_read_per_step = 0;
  double bandwidth_share = 0;    // bytes read per step ÷ step time ÷ read bandwidth
};

struct batch_result {
  std::string policy;
  std::size_t total_tokens = 0;  // tokens held by the batch
  batch_mode_result batched, separate, single;
  double max_batch_vs_separate = 0;  // max |batched − separate| / (1 + |separate|) over outputs
  double read_bw_gbps = 0;
};

using progress_fn = std::function<void(std::string_view, std::size_t, std::size_t)>;

/// Runs every policy: fills the caches with random bf16 keys and values, then times decode steps
/// in each mode (interleaved, so drift hits all alike) and checks batched against separate.
std::vector<batch_result> run_batch(const batch_options& options, const progress_fn& progress);

void write_batch_table(std::ostream& os, const batch_options& options, const std::vector<batch_result>& results);
void write_batch_json(std::ostream& os, const batch_options& options, const std::vector<batch_result>& results);

}  // namespace kvc::bench
