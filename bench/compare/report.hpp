// Writes compare results as an aligned table, JSON or CSV.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "compare/run_compare.hpp"

namespace kvc::bench {

void write_table(std::ostream& os, const std::vector<policy_result>& results);
void write_json(std::ostream& os, const std::vector<policy_result>& results);
void write_csv(std::ostream& os, const std::vector<policy_result>& results);

}  // namespace kvc::bench
