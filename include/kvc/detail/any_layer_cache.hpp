// Type erasure of a layer_cache_policy, so kv_cache can pick policies per layer at run time.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kvc/policy/concepts.hpp"

namespace kvc::detail {

/// The run-time face of one layer's cache; the hot loops stay inside the concrete policy.
class any_layer_cache {
 public:
  virtual ~any_layer_cache() = default;
  virtual void append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                                 const tensor_view<float, 3>& out) = 0;
  virtual void append(const dyn_view3& k, const dyn_view3& v) = 0;
  virtual void prefetch_hint(const dyn_view3& predicted_q) = 0;
  virtual std::size_t size() const = 0;
  virtual layer_shape shape() const = 0;
  virtual memory_footprint footprint() const = 0;
  virtual transfer_traffic traffic() const = 0;
  virtual void clear() = 0;
  /// Diagnostics: the stored positions the last step attended for `kv_head` (sparse policies);
  /// false when the policy attends everything it holds.
  virtual bool attended_positions(std::size_t kv_head, std::vector<std::size_t>& out) const = 0;
  /// The spec this cache was built from.
  virtual const std::string& spec() const = 0;
  /// The concrete policy, for callers that know its type (tests, calibration).
  virtual void* policy() = 0;
};

template <layer_cache_policy P>
class layer_cache_model final : public any_layer_cache {
 public:
  layer_cache_model(P policy, std::string spec) : policy_(std::move(policy)), spec_(std::move(spec)) {}
  void append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out) override {
    policy_.append_and_attend(q, k, v, out);
  }
  void append(const dyn_view3& k, const dyn_view3& v) override { policy_.append(k, v); }
  void prefetch_hint(const dyn_view3& predicted_q) override {
    if constexpr (accepts_prefetch_hint<P>) policy_.prefetch_hint(predicted_q);
  }
  std::size_t size() const override { return policy_.size(); }
  layer_shape shape() const override { return policy_.shape(); }
  memory_footprint footprint() const override { return policy_.footprint(); }
  transfer_traffic traffic() const override { return policy_.traffic(); }
  void clear() override { policy_.clear(); }
  bool attended_positions(std::size_t kv_head, std::vector<std::size_t>& out) const override {
    if constexpr (reports_attended_positions<P>) {
      out = policy_.attended_positions(kv_head);
      return true;
    }
    return false;
  }
  const std::string& spec() const override { return spec_; }
  void* policy() override { return &policy_; }

 private:
  P policy_;
  std::string spec_;
};

/// Wraps a policy value.
template <layer_cache_policy P>
std::unique_ptr<any_layer_cache> erase(P policy, std::string spec) {
  return std::make_unique<layer_cache_model<P>>(std::move(policy), std::move(spec));
}

}  // namespace kvc::detail
