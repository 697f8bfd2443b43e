// Writes compare results as an aligned table, JSON or CSV.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compare/run_compare.hpp"

namespace kvc::bench {

/// The JSON object of one result row (mass_recall null for policies that attend everything); the
/// one writer of these fields, used by write_json and the trace replay's rows.
nlohmann::json result_json(const policy_result& r);

void write_table(std::ostream& os, const std::vector<policy_result>& results);
void write_json(std::ostream& os, const std::vector<policy_result>& results);
void write_csv(std::ostream& os, const std::vector<policy_result>& results);

}  // namespace kvc::bench
