// kvc::io::resolve_plan: `plan:FILE` → the plan in FILE, other specs → a uniform plan.
#include "kvc/io/resolve_plan.hpp"

#include <string>

#include "kvc/core/error.hpp"
#include "kvc/io/plan_file.hpp"
#include "kvc/plan/plan.hpp"
#include "kvc/policy/spec.hpp"

namespace kvc::io {

cache_plan resolve_plan(std::string_view spec_text, int num_layers) {
  detail::require(num_layers > 0, "resolve_plan: a model needs at least one layer, got ", num_layers);
  const std::string where = "policy spec '" + std::string(spec_text) + "': ";
  detail::require(!spec_text.starts_with("plan:") || spec_text.size() > 5, where, "plan: needs a file name (plan:FILE)");
  if (!spec_text.starts_with("plan:")) {
    const policy_spec spec = policy_spec::parse(spec_text);
    detail::require(spec.name != plan_spec_kind, where, "a plan file is written plan:FILE");
    return cache_plan::uniform(spec_text, num_layers);
  }
  // the whole rest is the file name: a path may hold ',' or '=', and options belong in the file
  const std::string file(spec_text.substr(5));
  cache_plan plan;
  try {
    plan = read_plan_file(file);  // its errors name the file
  } catch (const kvc::error& e) {
    detail::fail(where, e.what());
  }
  try {
    plan.validate_for(num_layers);
    for (std::size_t l = 0; l < plan.layers.size(); ++l) {
      policy_spec layer;
      try {
        layer = policy_spec::parse(plan.layers[l]);
      } catch (const kvc::error& e) {
        detail::fail("layer ", l, ": ", e.what());
      }
      detail::require(layer.name != plan_spec_kind, "layer ", l, ": '", layer.text, "' refers to another plan file");
    }
  } catch (const kvc::error& e) {
    detail::fail(where, "plan file '", file, "': ", e.what());
  }
  return plan;
}

}  // namespace kvc::io
