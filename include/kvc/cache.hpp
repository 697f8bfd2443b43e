// kvc::kv_cache: the one runtime face, one layer cache per layer built from a plan.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include <optional>
#include <string>

#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/plan/plan.hpp"
#include "kvc/policy/layer_cache.hpp"
#include "kvc/policy/registry.hpp"

namespace kvc {

/// The KV cache of a whole model: one layer cache per layer, each with its own policy from a
/// plan, all with the same head layout. Engines call `append_and_attend` once per layer per step.
///
///     kvc::kv_cache cache("quant:k=2,v=2", 36, {32, 8, 128});
///     cache.append_and_attend(layer, q, k, v, out);  // q [n,32,128], k/v [n,8,128], out [n,32,128]
class kv_cache {
 public:
  /// The same policy spec on every layer.
  kv_cache(std::string_view spec, int num_layers, const layer_shape& shape)
      : kv_cache(cache_plan::uniform(spec, num_layers), shape) {}

  /// One spec per layer from `plan` (a plan file: kvc::io::resolve_plan("plan:FILE", layers)).
  kv_cache(const cache_plan& plan, const layer_shape& shape) : shape_(shape) {
    shape.validate();
    detail::require(plan.size() > 0, "cache plan has no layers");
    layers_.reserve(plan.layers.size());
    for (std::size_t l = 0; l < plan.layers.size(); ++l) {
      try {
        layers_.push_back(make_layer_cache(plan.layers[l], shape));
      } catch (const kvc::error& e) {
        detail::fail("layer ", l, ": ", e.what());
      }
    }
  }

  /// Layer caches the caller made (any policy, e.g. through kvc::wrap_policy), one per layer, in
  /// order; all must have the same shape. Throws kvc::error for an empty list, a null entry or a
  /// shape mismatch, naming the layer.
  explicit kv_cache(std::vector<std::unique_ptr<layer_cache>> layers) : layers_(std::move(layers)) {
    detail::require(!layers_.empty(), "kv_cache needs at least one layer cache");
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      detail::require(layers_[l] != nullptr, "layer ", l, ": the layer cache is null");
      const layer_shape s = layers_[l]->shape();
      if (l == 0) shape_ = s;
      detail::require(s == shape_, "layer ", l, ": shape {", s.q_heads, ", ", s.kv_heads, ", ", s.head_dim,
                      "} differs from layer 0's {", shape_.q_heads, ", ", shape_.kv_heads, ", ", shape_.head_dim, "}");
    }
  }

  int layers() const { return int(layers_.size()); }
  const layer_shape& shape() const { return shape_; }

  /// Stores k, v of n new positions in `layer` and writes the attention of q over everything
  /// held. q `[n, q_heads, head_dim]`, k and v `[n, kv_heads, head_dim]` (f32, bf16 or f16),
  /// out `[n, q_heads, head_dim]` f32. See kvc::layer_cache_policy for the exact contract.
  /// Ordered on `s` (see kvc::stream); CPU caches run synchronously.
  void append_and_attend(int layer, const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out, stream s = {}) {
    at(layer).append_and_attend(q, k, v, out, s);
  }
  /// Stores k, v `[n, kv_heads, head_dim]` of n new positions in `layer` without attending.
  void append(int layer, const dyn_view3& k, const dyn_view3& v) { at(layer).append(k, v); }
  /// Hands `layer` the query predicted for its next step, `[1, q_heads, head_dim]` (optional;
  /// policies without use for it ignore it).
  void prefetch_hint(int layer, const dyn_view3& predicted_q, stream s = {}) { at(layer).prefetch_hint(predicted_q, s); }

  /// Tokens held by `layer`.
  std::size_t size(int layer) const { return at(layer).size(); }
  /// The spec `layer` was built from.
  const std::string& spec(int layer) const { return at(layer).spec(); }
  /// Bytes held by all layers, by tier.
  memory_footprint footprint() const {
    memory_footprint f;
    for (const auto& l : layers_) f += l->footprint();
    return f;
  }
  memory_footprint footprint(int layer) const { return at(layer).footprint(); }
  /// Bytes moved between tiers by all layers since construction or clear().
  transfer_traffic traffic() const {
    transfer_traffic t;
    for (const auto& l : layers_) t += l->traffic();
    return t;
  }
  transfer_traffic traffic(int layer) const { return at(layer).traffic(); }
  /// Drops every token of every layer.
  void clear() {
    for (auto& l : layers_) l->clear();
  }
  /// Stored positions the last step of `layer` attended for `kv_head`; nullopt if it attends all.
  std::optional<std::vector<std::size_t>> attended_positions(int layer, std::size_t kv_head) const {
    return at(layer).attended_positions(kv_head);
  }
  /// The layer cache of `layer` (its run-time face; `.as<P>()` gives the concrete policy).
  layer_cache& layer(int layer) { return at(layer); }
  const layer_cache& layer(int layer) const { return at(layer); }
  /// The concrete policy of `layer` if it is a P, else nullptr.
  template <class P>
  P* policy_as(int layer) {
    return at(layer).template as<P>();
  }

 private:
  layer_cache& at(int layer) const {
    detail::require(layer >= 0 && layer < int(layers_.size()), "layer ", layer, " out of range [0, ",
                    layers_.size(), ")");
    return *layers_[std::size_t(layer)];
  }

  layer_shape shape_;
  std::vector<std::unique_ptr<layer_cache>> layers_;
};

}  // namespace kvc
