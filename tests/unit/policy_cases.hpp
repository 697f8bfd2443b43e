// The policies every contract test runs over: spec, concrete type, and random activations.
#pragma once

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "kvc/kvc.hpp"
#include "streaming_cache.hpp"  // examples/: a policy written and registered outside the library
#include "support/random.hpp"

namespace policy_cases {

using namespace kvc;

/// Whole-prompt prefill is exact (the new tokens are attended as given, f32 here), whatever the
/// policy stores: max |out − ref| / (1 + |ref|) against the f64 oracle.
constexpr double exact_prefill_tol = 2e-5;

inline const layer_shape shape{8, 2, 32};  // GQA group 4, small enough that every policy fills its stages

/// One policy under test: its spec (the registry builds it) and the concrete type the spec gives.
template <class P>
struct policy_case {
  using type = P;
  std::string spec;
};

// Each spec is sized so that the test's 90 tokens reach every stage of the policy: quant blocks
// past the residual and sinks, sparse tokens offloaded past the window with top-k < host tokens.
template <class P>
policy_case<P> case_of();
template <> inline policy_case<full_cache<float>> case_of() { return {"full:f32"}; }
template <> inline policy_case<full_cache<bf16>> case_of() { return {"full:dtype=bf16,page=16"}; }
template <> inline policy_case<full_cache<f16>> case_of() { return {"full:f16"}; }
template <> inline policy_case<quant_cache<bf16>> case_of() { return {"quant:k=4,v=2,group=16,residual=32,sink=3"}; }
template <> inline policy_case<quant_cache<float>> case_of() { return {"quant:k=1,v=8,group=8,residual=16,rotate=1,dtype=f32"}; }
template <> inline policy_case<sparse_cache<bf16>> case_of() { return {"sparse:topk=12,sink=4,window=8,channels=6"}; }
template <> inline policy_case<sparse_cache<f16>> case_of() { return {"sparse:topk=10,sink=2,window=5,selector=pages,page=4,dtype=f16"}; }
// tau near 0 or 1 makes the choice certain on random data (P is about 0.8 there)
template <> inline policy_case<tailorkv_cache<bf16>> case_of() { return {"tailorkv:calibrate=1,tau=0.01"}; }
template <> inline policy_case<tailorkv_cache<float>> case_of() { return {"tailorkv:calibrate=1,tau=0.99,setting=short,dtype=f32"}; }
template <> inline policy_case<streaming_cache> case_of() { return {"streaming:sink=3,window=20"}; }

/// Tokens a cache of policy P holds after n appended: all of them, except for a policy that evicts.
template <class P>
std::size_t held_after(std::size_t n) {
  if constexpr (std::is_same_v<P, streaming_cache>) return std::min<std::size_t>(n, 3 + 20);
  else return n;
}

using all_policies = std::tuple<full_cache<float>, full_cache<bf16>, full_cache<f16>, quant_cache<bf16>, quant_cache<float>,
                                sparse_cache<bf16>, sparse_cache<f16>, tailorkv_cache<bf16>, tailorkv_cache<float>,
                                streaming_cache>;

/// The custom policy is registered once, by its own code, before any spec names it.
inline const bool streaming_registered = [] {
  streaming_cache::register_spec();
  return true;
}();

/// Random f32 activations of `tokens` positions: q [tokens, q_heads, dim], k and v [tokens, kv_heads, dim].
struct activations {
  std::size_t tokens, hq = std::size_t(shape.q_heads), hk = std::size_t(shape.kv_heads), d = std::size_t(shape.head_dim);
  std::vector<float> q, k, v;
  activations(std::mt19937_64& rng, std::size_t n)
      : tokens(n), q(test::random_values<float>(rng, n * hq * d)), k(test::random_values<float>(rng, n * hk * d)),
        v(test::random_values<float>(rng, n * hk * d)) {}
  tensor_view<const float, 3> qv(std::size_t first, std::size_t n) const { return {q.data() + first * hq * d, {n, hq, d}}; }
  tensor_view<const float, 3> kv(std::size_t first, std::size_t n) const { return {k.data() + first * hk * d, {n, hk, d}}; }
  tensor_view<const float, 3> vv(std::size_t first, std::size_t n) const { return {v.data() + first * hk * d, {n, hk, d}}; }
};

/// The policies that hold many sequences (all but the custom streaming one).
using sequence_policies = std::tuple<full_cache<float>, full_cache<bf16>, full_cache<f16>, quant_cache<bf16>,
                                     quant_cache<float>, sparse_cache<bf16>, sparse_cache<f16>, tailorkv_cache<bf16>,
                                     tailorkv_cache<float>>;

}  // namespace policy_cases
