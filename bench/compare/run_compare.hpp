// Runs a list of policies on one workload and measures bytes, error, recall and speed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/core/layer_shape.hpp"

namespace kvc::bench {

/// What `kvc-bench compare` runs.
struct compare_options {
  layer_shape shape{32, 8, 128};  // Qwen3-8B layer shape
  std::size_t context = 32768;
  std::size_t steps = 16;
  std::uint64_t seed = 1;
  bool dense = false;             // synthetic layer with spread attention
  /// Layers of the synthetic model. With more than one, layers listed in `dense_layers` get the
  /// dense dataset and the rest the sparse one; layers of one kind share one generated dataset
  /// (so memory and generation time stay those of two layers at most). Bytes are summed over
  /// layers; errors and recall are taken over every layer's outputs.
  int layers = 1;
  std::vector<int> dense_layers;  // e.g. {0, 1}; all layers when `dense` is set
  float heavy_strength = 4.0f;    // synthetic_options::heavy_strength of the sparse dataset
  float heavy_fraction = 0.02f;   // synthetic_options::heavy_fraction of the sparse dataset
  /// Before each decode step, hand each layer the step's true query via prefetch_hint (an ideal
  /// next-layer query prediction); its traffic and time count toward the step.
  bool prefetch_hints = false;
  std::vector<std::string> policies{"full:bf16"};
  std::size_t read_bw_bytes = std::size_t(1) << 30;
};

/// One row of the comparison. Bytes per token are footprint bytes (summed over layers) ÷ tokens
/// held per layer after the run.
struct policy_result {
  std::string policy;              // the spec, plus the chosen per-layer plan for tailorkv:calibrate
  std::size_t context = 0;
  double device_bytes_per_token = 0;
  double host_bytes_per_token = 0;
  double metadata_bytes_per_token = 0;
  double compression_ratio = 0;        // bf16 full-cache bytes ÷ device bytes
  double attn_rel_error = 0;           // ‖out − exact‖ / ‖exact‖ over all decode steps (f64 oracle)
  double mass_recall = -1;             // exact softmax mass on attended tokens; -1: attends all
  double decode_us_per_token = 0;      // median over decode steps
  double bytes_read_per_step = 0;      // device bytes (less reserved) + host→device bytes of one step
  double h2d_bytes_per_step = 0;
  double achieved_gbps = 0;            // bytes_read_per_step ÷ decode time
  double read_bw_gbps = 0;             // machine read bandwidth, measured right before the steps
};

/// Progress callback: (what, done, total).
using progress_fn = std::function<void(std::string_view, std::size_t, std::size_t)>;

/// Builds the synthetic workload, measures read bandwidth, then runs every policy.
std::vector<policy_result> run_compare(const compare_options& options, const progress_fn& progress);

}  // namespace kvc::bench
