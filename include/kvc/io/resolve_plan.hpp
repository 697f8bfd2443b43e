// Turns a policy spec into a per-layer plan: `plan:FILE` reads a plan file, anything else is uniform.
#pragma once

#include <string_view>

#include "kvc/plan/plan.hpp"

namespace kvc::io {

/// The plan a model with `num_layers` layers runs under `spec`:
/// - `plan:FILE`: the plan in FILE (kvc::io::read_plan_file), checked to have exactly
///   `num_layers` layers and a parsable spec on every layer (none of them itself a plan file);
/// - any other spec (including `tailorkv:calibrate=1,...`): the same spec on every layer.
/// Throws kvc::error naming the spec, the file and the problem (missing file, malformed JSON,
/// wrong layer count, bad layer spec).
cache_plan resolve_plan(std::string_view spec, int num_layers);

}  // namespace kvc::io
