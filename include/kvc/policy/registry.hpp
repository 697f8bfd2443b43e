// The policy registry: a name → factory table users extend, and make_layer_cache built on it.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/core/error.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/plan/plan.hpp"
#include "kvc/policy/full.hpp"
#include "kvc/policy/layer_cache.hpp"
#include "kvc/policy/quant.hpp"
#include "kvc/policy/sparse.hpp"
#include "kvc/policy/spec.hpp"
#include "kvc/policy/tailorkv.hpp"

namespace kvc {

/// Builds a layer cache for a parsed spec and a layer shape; throws kvc::error for bad options.
/// The factory of policy `name` receives every spec whose name is `name`.
using policy_factory = std::function<std::unique_ptr<layer_cache>(const policy_spec& spec, const layer_shape& shape)>;

namespace detail {

using policy_factories = std::map<std::string, policy_factory, std::less<>>;

#ifdef KVC_COMPILED_POLICIES
/// The built-in policies, compiled once in kvc::policies (see builtin_policies.hpp).
void add_compiled_builtin_policies(policy_factories& factories);
#else
inline void add_builtin_policies(policy_factories& factories);
#endif

struct policy_table {
  std::mutex mutex;
  policy_factories factories;

#ifdef KVC_COMPILED_POLICIES
  policy_table() { add_compiled_builtin_policies(factories); }
#else
  policy_table() { add_builtin_policies(factories); }
#endif
};

/// The process-wide table (one per program: an inline function's static).
inline policy_table& policies() {
  static policy_table table;
  return table;
}

}  // namespace detail

/// Registers policy `name` so that specs `name[:options]` build it everywhere specs are read
/// (kv_cache, plans, kvc-bench, kvc-qwen3). Throws kvc::error if the name is taken, reserved
/// (`plan`) or not a plain word (letters, digits, '_', '-').
inline void register_policy(std::string_view name, policy_factory factory) {
  const bool word = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  detail::require(word, "register_policy: policy name '", name, "' must be a non-empty word of letters, digits, '_' or '-'");
  detail::require(name != plan_spec_kind, "register_policy: '", name, "' is reserved for plan:FILE");
  detail::require(static_cast<bool>(factory), "register_policy: the factory of '", name, "' is empty");
  auto& table = detail::policies();
  const std::lock_guard lock(table.mutex);
  const bool added = table.factories.emplace(std::string(name), std::move(factory)).second;
  detail::require(added, "register_policy: a policy named '", name, "' is already registered");
}

/// The names of every registered policy, sorted.
inline std::vector<std::string> registered_policies() {
  auto& table = detail::policies();
  const std::lock_guard lock(table.mutex);
  std::vector<std::string> names;
  for (const auto& [name, _] : table.factories) names.push_back(name);
  return names;
}

/// True if `name` is a registered policy.
inline bool is_registered_policy(std::string_view name) {
  auto& table = detail::policies();
  const std::lock_guard lock(table.mutex);
  return table.factories.find(name) != table.factories.end();
}

namespace detail {
inline std::string joined_policy_names() {
  std::string list;
  for (const auto& name : registered_policies()) list += (list.empty() ? "" : ", ") + name;
  return list;
}
}  // namespace detail

/// Splits a list of specs written with commas ("full:bf16,quant:k=2,v=2") into specs: an item
/// whose name (before ':') is a registered policy or `plan` starts a new spec; other items
/// (`v=2`, `rotate=1`) continue the previous one. ';' always separates.
inline std::vector<std::string> split_policy_list(std::string_view list) {
  std::vector<std::string> specs;
  const auto is_policy_start = [](std::string_view item) {
    const std::string_view name = item.substr(0, item.find(':'));
    if (name != plan_spec_kind && !is_registered_policy(name)) return false;
    return item.find('=') == std::string_view::npos || item.find(':') < item.find('=');
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

/// A layer cache for `spec` (text form, e.g. "full:bf16") from the registered factory of its
/// name; throws kvc::error naming the spec for unknown policies (listing the known ones), bad
/// options, or options that do not fit the layer shape. `plan:FILE` is a whole-model plan, not
/// a layer: resolve it with kvc::io::resolve_plan and build kv_cache from the plan.
inline std::unique_ptr<layer_cache> make_layer_cache(std::string_view spec_text, const layer_shape& shape) {
  shape.validate();
  const policy_spec spec = policy_spec::parse(spec_text);
  detail::require(spec.name != plan_spec_kind, "policy spec '", spec.text,
                  "' names a whole-model plan file; resolve it with kvc::io::resolve_plan(spec, num_layers) "
                  "and build kv_cache from the plan");
  policy_factory factory;
  {
    auto& table = detail::policies();
    const std::lock_guard lock(table.mutex);
    const auto it = table.factories.find(spec.name);
    if (it != table.factories.end()) factory = it->second;
  }
  if (!factory) detail::fail("policy spec '", spec.text, "': unknown policy '", spec.name, "' (known: ",
                             detail::joined_policy_names(), ", or plan:FILE)");
  try {
    auto cache = factory(spec, shape);
    detail::require(cache != nullptr, "the factory returned no cache");
    return cache;
  } catch (const kvc::error& e) {
    const std::string prefix = "policy spec '" + spec.text + "'";
    if (std::string_view(e.what()).starts_with(prefix)) throw;  // already names the spec
    detail::fail(prefix, ": ", e.what());
  }
}

}  // namespace kvc

#ifndef KVC_COMPILED_POLICIES
#include "kvc/policy/builtin_policies.hpp"
#endif
