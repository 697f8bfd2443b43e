// Per-layer plan search under a device-byte budget: each layer's measured sensitivity to each
// candidate policy, then a knapsack over layers that minimises the predicted KL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/eval.hpp"
#include "kvc/plan/plan.hpp"
#include "model/model.hpp"

namespace kvc::qwen3 {

/// What each candidate policy costs and does on each layer.
struct layer_sensitivity {
  std::vector<std::string> candidates;  // [C] policy specs
  std::vector<std::size_t> device_bytes;  // [C] one layer's planned device bytes (kvc::plan_kv_bytes)
  std::vector<std::size_t> host_bytes;    // [C] the same on the host tier
  std::size_t plan_context = 0;           // tokens the bytes are planned for (one sequence)
  std::vector<std::vector<double>> kl;    // [layers][C] mean KL(baseline ‖ model) with layer l alone on c
  std::size_t tokens_scored = 0;          // per measurement
};

/// Measures, for every layer l and candidate c, the mean teacher-forced KL of the logits against
/// `eval.baseline` when layer l alone uses c and every other layer the baseline (run_eval over
/// `tokens` with `eval`'s windows; one run per layer, its candidates in lockstep). A candidate
/// equal to the baseline spec costs no run: its KL is 0 by construction. Bytes are planned for
/// one sequence of `plan_context` tokens. `progress` gets ("layer l", l + 1, layers).
layer_sensitivity measure_sensitivity(const model& m, std::span<const std::int32_t> tokens, const eval_options& eval,
                                      const std::vector<std::string>& candidates, std::size_t plan_context,
                                      const eval_progress& progress = {});

/// The sensitivity table as JSON (the "sensitivity" object of search-plan's --report), and back:
/// sensitivity_from_json checks every field's presence, type and size against `layers` and
/// throws kvc::error naming `source` and the field.
nlohmann::json sensitivity_to_json(const layer_sensitivity& s);
layer_sensitivity sensitivity_from_json(const nlohmann::json& j, int layers, std::string_view source);

/// `a` with the candidates of `b` that `a` lacks appended (a spec in both keeps `a`'s values).
/// Both must come from the same protocol: the same layer count, plan_context and tokens_scored,
/// else kvc::error naming `source` (b's file) and the field that differs.
layer_sensitivity merge_sensitivities(layer_sensitivity a, const layer_sensitivity& b, std::string_view source);

/// A plan chosen from a layer_sensitivity.
struct searched_plan {
  cache_plan plan;            // scores: the chosen candidate's measured KL per layer
  std::vector<int> choice;    // [layers] candidate index
  double predicted_kl = 0;    // Σ over layers of the chosen candidates' KL (layers assumed additive)
  std::size_t device_bytes = 0;
  std::size_t host_bytes = 0;
};

/// The plan minimising Σ_l kl[l][choice_l] with Σ_l device_bytes[choice_l] ≤ `budget`: a
/// knapsack over layers by dynamic programming in units of the costs' greatest common divisor
/// (exact) when the budget is at most `resolution` of them, else of budget / `resolution` bytes
/// with each cost rounded up, so the plan never exceeds the budget (and loses at most one unit
/// per layer of it). Throws kvc::error when every layer on its cheapest candidate exceeds the
/// budget, naming both.
searched_plan choose_plan(const layer_sensitivity& s, std::size_t budget, std::size_t resolution = 20000);

/// The device bytes of `spec` on every layer of the sensitivity's model, as planned.
std::size_t uniform_device_bytes(const model& m, const std::string& spec, std::size_t plan_context);

}  // namespace kvc::qwen3
