// Cache plans as JSON files: {"model": ..., "layers": [{"layer": 0, "policy": "..."}, ...]}.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "kvc/plan/plan.hpp"

namespace kvc::io {

/// Parses a plan from JSON text. `origin` names the source in error messages (a file name).
/// Each entry of "layers" needs an integer "layer" and a string "policy"; every layer index
/// 0..n-1 must appear exactly once (any order); an optional number "score" per layer (e.g. a
/// calibration score) is kept in plan.scores. Throws kvc::error naming the problem.
cache_plan parse_plan_json(std::string_view json, std::string_view origin = "plan");

/// Reads and parses a plan file.
cache_plan read_plan_file(const std::filesystem::path& path);

/// The JSON text of a plan (scores included when present), indented for people to read.
std::string plan_to_json(const cache_plan& plan);

/// Writes plan_to_json(plan) to `path`; throws kvc::error if the file cannot be written.
void write_plan_file(const std::filesystem::path& path, const cache_plan& plan);

}  // namespace kvc::io
