// Builds a type-erased layer cache from a policy spec: the one place that maps spec names to policies.
#pragma once

#include <memory>
#include <string_view>

#include "kvc/detail/any_layer_cache.hpp"
#include "kvc/policy/full.hpp"
#include "kvc/policy/spec.hpp"

namespace kvc {

/// Policy names understood by make_layer_cache, for error messages and help texts.
inline constexpr std::string_view known_policies = "full";

/// A layer cache for `spec` (text form, e.g. "full:bf16"); throws kvc::error for unknown
/// policies or bad options, naming them.
inline std::unique_ptr<detail::any_layer_cache> make_layer_cache(std::string_view spec_text,
                                                                 const layer_shape& shape) {
  shape.validate();
  const policy_spec spec = policy_spec::parse(spec_text);
  if (spec.name == "full") {
    const full_options o = full_options::from_spec(spec);
    return visit_dtype(o.storage, [&](auto tag) -> std::unique_ptr<detail::any_layer_cache> {
      return detail::erase(full_cache<decltype(tag)>(shape, o), spec.text);
    });
  }
  detail::fail("policy spec '", spec_text, "': unknown policy '", spec.name, "' (known: ",
               known_policies, ")");
}

}  // namespace kvc
