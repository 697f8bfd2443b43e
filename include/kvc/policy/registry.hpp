// Builds a type-erased layer cache from a policy spec: the one place that maps spec names to policies.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/detail/any_layer_cache.hpp"
#include "kvc/policy/full.hpp"
#include "kvc/policy/quantized.hpp"
#include "kvc/policy/sparse_offload.hpp"
#include "kvc/policy/spec.hpp"
#include "kvc/policy/tailorkv.hpp"

namespace kvc {

/// Policy names understood by make_layer_cache, for error messages and help texts.
inline constexpr std::string_view known_policies = "full, sparse, quant, tailorkv";

/// Splits a list of specs written with commas ("full:bf16,quant:k=2,v=2") into specs: an item
/// whose name (before ':') is a known policy starts a new spec; other items (`v=2`, `rotate`)
/// continue the previous one. ';' always separates.
inline std::vector<std::string> split_policy_list(std::string_view list) {
  std::vector<std::string> specs;
  const auto is_policy_start = [](std::string_view item) {
    const std::string_view name = item.substr(0, item.find(':'));
    std::string_view names = known_policies;
    while (!names.empty()) {
      const auto sep = names.find(", ");
      if (names.substr(0, sep) == name) return item.find('=') == std::string_view::npos || item.find(':') < item.find('=');
      if (sep == std::string_view::npos) break;
      names = names.substr(sep + 2);
    }
    return false;
  };
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto end = std::min(list.find_first_of(",;", start), list.size());
    const std::string_view item = list.substr(start, end - start);
    const bool hard_break = start > 0 && list[start - 1] == ';';
    if (!item.empty()) {
      if (specs.empty() || hard_break || is_policy_start(item)) specs.emplace_back(item);
      else specs.back() += "," + std::string(item);
    }
    start = end + 1;
  }
  detail::require(!specs.empty(), "empty policy list");
  return specs;
}

namespace detail {
/// The policy named by `spec`, built for `shape`.
inline std::unique_ptr<any_layer_cache> make_policy(const policy_spec& spec, const layer_shape& shape) {
  if (spec.name == "full") {
    const full_options o = full_options::from_spec(spec);
    return visit_dtype(o.storage, [&](auto tag) -> std::unique_ptr<any_layer_cache> {
      return erase(full_cache<decltype(tag)>(shape, o), spec.text);
    });
  }
  if (spec.name == "sparse") {
    const sparse_options o = sparse_options::from_spec(spec);
    o.validate(shape);
    return visit_dtype(o.storage, [&](auto tag) -> std::unique_ptr<any_layer_cache> {
      return erase(sparse_offload_cache<decltype(tag)>(shape, o), spec.text);
    });
  }
  if (spec.name == "quant") {
    const quant_options o = quant_options::from_spec(spec);
    return visit_dtype(o.storage, [&](auto tag) -> std::unique_ptr<any_layer_cache> {
      return erase(quantized_cache<decltype(tag)>(shape, o), spec.text);
    });
  }
  if (spec.name == "tailorkv") return erase(tailorkv_cache(shape, tailorkv_options::from_spec(spec)), spec.text);
  fail("unknown policy '", spec.name, "' (known: ", known_policies, ")");
}
}  // namespace detail

/// A layer cache for `spec` (text form, e.g. "full:bf16"); throws kvc::error for unknown
/// policies, bad options or options that do not fit the layer shape, naming the spec.
inline std::unique_ptr<detail::any_layer_cache> make_layer_cache(std::string_view spec_text,
                                                                 const layer_shape& shape) {
  shape.validate();
  const policy_spec spec = policy_spec::parse(spec_text);
  try {
    return detail::make_policy(spec, shape);
  } catch (const kvc::error& e) {
    const std::string prefix = "policy spec '" + spec.text + "'";
    if (std::string_view(e.what()).starts_with(prefix)) throw;  // already names the spec
    detail::fail(prefix, ": ", e.what());
  }
}

}  // namespace kvc
