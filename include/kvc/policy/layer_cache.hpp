// kvc::layer_cache: the run-time face of one layer's cache, and the wrapper that gives any policy that face.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/policy/concepts.hpp"

namespace kvc {

template <layer_cache_policy P>
class policy_layer_cache;

/// One layer's cache with its policy chosen at run time: what `kv_cache` holds per layer, what
/// `make_layer_cache` and registered factories return. The hot loops stay inside the concrete
/// policy; this costs one virtual call per layer and step. Any type satisfying
/// `kvc::layer_cache_policy` gets this face through `wrap_policy` (see examples/custom_policy.cpp).
class layer_cache {
 public:
  virtual ~layer_cache() = default;

  /// Stores k, v `[n, kv_heads, head_dim]` and writes out `[n, q_heads, head_dim]` f32 = attention
  /// of q `[n, q_heads, head_dim]` over everything held (kvc::layer_cache_policy), ordered on `s`.
  void append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out, stream s = {}) {
    do_append_and_attend(q, k, v, out, s);
  }
  /// Stores k, v `[n, kv_heads, head_dim]` of n new positions without attending.
  virtual void append(const dyn_view3& k, const dyn_view3& v) = 0;
  /// Offers the query predicted for the next step, `[1, q_heads, head_dim]` (ignored by policies
  /// without use for it); copies it starts are ordered on `s`.
  void prefetch_hint(const dyn_view3& predicted_q, stream s = {}) { do_prefetch_hint(predicted_q, s); }
  virtual std::size_t size() const = 0;
  virtual layer_shape shape() const = 0;
  virtual memory_footprint footprint() const = 0;
  virtual transfer_traffic traffic() const = 0;
  virtual void clear() = 0;
  /// Diagnostics: the stored positions the last step attended for `kv_head` (sparse policies);
  /// nullopt when the policy attends everything it holds.
  virtual std::optional<std::vector<std::size_t>> attended_positions(std::size_t kv_head) const = 0;
  /// The spec this cache was built from (or the name its maker gave it).
  virtual const std::string& spec() const = 0;

  /// The concrete policy if it is a P, else nullptr (typed; no casts by the caller).
  template <class P>
  P* as() {
    auto* typed = dynamic_cast<policy_layer_cache<P>*>(this);
    return typed ? &typed->policy() : nullptr;
  }
  template <class P>
  const P* as() const {
    const auto* typed = dynamic_cast<const policy_layer_cache<P>*>(this);
    return typed ? &typed->policy() : nullptr;
  }

 private:
  virtual void do_append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                                    const tensor_view<float, 3>& out, stream s) = 0;
  virtual void do_prefetch_hint(const dyn_view3& predicted_q, stream s) = 0;
};

/// A policy value behind the layer_cache face. Optional policy members (stream, prefetch hint,
/// attended positions) are used when present and are no-ops otherwise.
template <layer_cache_policy P>
class policy_layer_cache final : public layer_cache {
 public:
  policy_layer_cache(P policy, std::string spec) : policy_(std::move(policy)), spec_(std::move(spec)) {}

  void append(const dyn_view3& k, const dyn_view3& v) override { policy_.append(k, v); }
  std::size_t size() const override { return policy_.size(); }
  layer_shape shape() const override { return policy_.shape(); }
  memory_footprint footprint() const override { return policy_.footprint(); }
  transfer_traffic traffic() const override { return policy_.traffic(); }
  void clear() override { policy_.clear(); }
  std::optional<std::vector<std::size_t>> attended_positions(std::size_t kv_head) const override {
    if constexpr (reports_attended_positions<P>) return policy_.attended_positions(kv_head);
    else return std::nullopt;
  }
  const std::string& spec() const override { return spec_; }

  P& policy() { return policy_; }
  const P& policy() const { return policy_; }

 private:
  void do_append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                            const tensor_view<float, 3>& out, stream s) override {
    if constexpr (accepts_stream<P>) policy_.append_and_attend(q, k, v, out, s);
    else policy_.append_and_attend(q, k, v, out);  // a host policy: synchronous, no stream
  }
  void do_prefetch_hint(const dyn_view3& predicted_q, stream s) override {
    if constexpr (requires { policy_.prefetch_hint(predicted_q, s); }) policy_.prefetch_hint(predicted_q, s);
    else if constexpr (accepts_prefetch_hint<P>) policy_.prefetch_hint(predicted_q);
  }

  P policy_;
  std::string spec_;
};

/// Gives `policy` the run-time face; `spec` is what spec() reports (the text it was built from).
template <layer_cache_policy P>
std::unique_ptr<layer_cache> wrap_policy(P policy, std::string spec) {
  return std::make_unique<policy_layer_cache<P>>(std::move(policy), std::move(spec));
}

}  // namespace kvc
