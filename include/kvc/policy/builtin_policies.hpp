// The factories of the built-in policies (full, quant, sparse, tailorkv) for every storage dtype.
//
// Instantiating every built-in policy for f32, bf16 and f16 (their kernels included) is most of
// the compile time of a translation unit that includes kvc/cache.hpp. By default this header is
// included by registry.hpp and the factories are inline, compiled in every such unit (header-only
// use). A program that links kvc::policies instead compiles them once: that target defines
// KVC_COMPILED_POLICIES for everything that links it, and its one source defines
// add_compiled_builtin_policies. The built-in policies' kernels are then compiled with kvc's
// build flags (KVC_NATIVE), not the program's. Every unit of one program must agree: link
// kvc::policies everywhere or nowhere.
#pragma once

#include <string>

#include "kvc/core/dtype.hpp"
#include "kvc/policy/full.hpp"
#include "kvc/policy/layer_cache.hpp"
#include "kvc/policy/quant.hpp"
#include "kvc/policy/registry.hpp"
#include "kvc/policy/sparse.hpp"
#include "kvc/policy/spec.hpp"
#include "kvc/policy/tailorkv.hpp"

namespace kvc::detail {

/// A built-in policy's cache for the dtype its options name, wrapped as a layer_cache.
template <template <class> class Cache, class Options>
std::unique_ptr<layer_cache> make_typed(const policy_spec& spec, const layer_shape& shape, const Options& o) {
  return visit_dtype(o.storage, [&](auto tag) -> std::unique_ptr<layer_cache> {
    return wrap_policy(Cache<decltype(tag)>(shape, o), spec.text);
  });
}

#ifdef KVC_COMPILED_POLICIES
void add_compiled_builtin_policies(policy_factories& factories) {
#else
inline void add_builtin_policies(policy_factories& factories) {
#endif
  factories.emplace("full", [](const policy_spec& s, const layer_shape& shape) {
    return make_typed<full_cache>(s, shape, full_options::from_spec(s));
  });
  factories.emplace("quant", [](const policy_spec& s, const layer_shape& shape) {
    return make_typed<quant_cache>(s, shape, quant_options::from_spec(s));
  });
  factories.emplace("sparse", [](const policy_spec& s, const layer_shape& shape) {
    return make_typed<sparse_cache>(s, shape, sparse_options::from_spec(s));
  });
  factories.emplace("tailorkv", [](const policy_spec& s, const layer_shape& shape) {
    return make_typed<tailorkv_cache>(s, shape, tailorkv_options::from_spec(s));
  });
}

}  // namespace kvc::detail
