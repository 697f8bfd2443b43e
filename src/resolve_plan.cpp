// kvc::io::resolve_plan: `tailorkv:plan=FILE` → the plan in FILE, other specs → a uniform plan.
#include "kvc/io/resolve_plan.hpp"

#include <string>

#include "kvc/core/error.hpp"
#include "kvc/io/plan_file.hpp"
#include "kvc/policy/spec.hpp"

namespace kvc::io {

cache_plan resolve_plan(std::string_view spec_text, int num_layers) {
  detail::require(num_layers > 0, "resolve_plan: a model needs at least one layer, got ", num_layers);
  const policy_spec spec = policy_spec::parse(spec_text);
  if (spec.name != "tailorkv") return cache_plan::uniform(spec_text, num_layers);
  spec_reader reader(spec);
  const std::string file = reader.text("plan", "");
  if (file.empty()) return cache_plan::uniform(spec_text, num_layers);  // tailorkv:calibrate=1,...
  reader.finish(0);  // plan= takes no other options: they belong in the plan file
  const std::string where = "policy spec '" + std::string(spec_text) + "': ";
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
      for (const auto& [key, _] : layer.options)
        detail::require(layer.name != "tailorkv" || key != "plan", "layer ", l, ": '", layer.text,
                        "' refers to another plan file");
    }
  } catch (const kvc::error& e) {
    detail::fail(where, "plan file '", file, "': ", e.what());
  }
  return plan;
}

}  // namespace kvc::io
