// A cache plan: one policy spec per layer, the input the runtime kv_cache is built from.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kvc/core/error.hpp"

namespace kvc {

/// The spec kind that names a whole-model plan file (`plan:FILE`, resolved by
/// kvc::io::resolve_plan); not a layer policy.
inline constexpr std::string_view plan_spec_kind = "plan";

/// One policy spec per layer (`layers[l]` is the spec of layer l), plus optional per-layer notes
/// (e.g. a calibration score) carried along for people reading the plan.
struct cache_plan {
  std::string model;                // free text, e.g. the checkpoint's name
  std::vector<std::string> layers;  // [num_layers] policy spec strings
  std::vector<double> scores;       // [num_layers] or empty: why each layer got its policy

  /// The same spec on every layer.
  static cache_plan uniform(std::string_view spec, int num_layers) {
    detail::require(num_layers > 0, "a plan needs at least one layer, got ", num_layers);
    return {std::string(), std::vector<std::string>(std::size_t(num_layers), std::string(spec)), {}};
  }
  int size() const { return int(layers.size()); }

  /// Throws kvc::error unless the plan has exactly `num_layers` layers (a model's layer count).
  void validate_for(int num_layers) const {
    detail::require(int(layers.size()) == num_layers, "plan", model.empty() ? "" : " for '",
                    model, model.empty() ? "" : "'", " has ", layers.size(),
                    " layers but the model has ", num_layers);
    detail::require(scores.empty() || scores.size() == layers.size(), "plan has ", scores.size(),
                    " scores for ", layers.size(), " layers");
  }

  /// The layers' policy kinds in runs, e.g. "quant:0 sparse:1-35" (layer_kinds).
  std::string kinds() const;
};

/// Runs of consecutive layers with the same policy kind (the spec up to ':'):
/// {"quant:k=1", "sparse:topk=8", "sparse:topk=8"} gives "quant:0 sparse:1-2".
inline std::string layer_kinds(const std::vector<std::string>& specs) {
  std::string text;
  for (std::size_t first = 0; first < specs.size();) {
    const std::string kind = specs[first].substr(0, specs[first].find(':'));
    std::size_t last = first;
    while (last + 1 < specs.size() && specs[last + 1].substr(0, specs[last + 1].find(':')) == kind) ++last;
    if (!text.empty()) text += ' ';
    text += kind + ':' + std::to_string(first);
    if (last > first) text += '-' + std::to_string(last);
    first = last + 1;
  }
  return text;
}

inline std::string cache_plan::kinds() const { return layer_kinds(layers); }

}  // namespace kvc
