// kvc::kv_cache: the one runtime face, one layer cache per layer built from a plan.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/sequence.hpp"
#include "kvc/core/sequence_state.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/core/tensor_view.hpp"
#include "kvc/plan/plan.hpp"
#include "kvc/policy/layer_cache.hpp"
#include "kvc/policy/registry.hpp"

namespace kvc {

/// Bytes a cache may hold per tier; 0 leaves a tier unlimited.
struct memory_budget {
  std::size_t device_bytes = 0;
  std::size_t host_bytes = 0;
};

/// The KV cache of a whole model: one layer cache per layer, each with its own policy from a
/// plan, all with the same head layout. Engines call `append_and_attend` once per layer per step.
///
///     kvc::kv_cache cache("quant:k=2,v=2", 36, {32, 8, 128});
///     cache.append_and_attend(layer, q, k, v, out);  // q [n,32,128], k/v [n,8,128], out [n,32,128]
///
/// Many sequences: every layer holds sequences by id on one set of storage pools. A varlen
/// batch appends to several at once (`append_and_attend(layer, runs, q, k, v, out)`); truncate,
/// remove and fork act on a sequence in every layer; a fork shares the stored pages. The calls
/// without a seq_id use the default sequence 0. With a `memory_budget`, an append or fork that
/// would take a tier past it throws kvc::error naming the tier, the bytes asked and the bytes
/// left, and changes nothing.
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
    const seq_run run{default_seq, k.extent(0)};
    check_budget(layer, {&run, 1}, true);
    at(layer).append_and_attend(q, k, v, out, s);
  }
  /// The same for sequence `seq` (created if new).
  void append_and_attend(int layer, seq_id seq, const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out, stream s = {}) {
    const seq_run run{seq, k.extent(0)};
    append_and_attend(layer, std::span<const seq_run>(&run, 1), q, k, v, out, s);
  }
  /// A varlen batch in `layer`: run i's tokens are the next `runs[i].tokens` rows of q, k, v
  /// and out (`[rows, heads, head_dim]`); each sequence (created if new) attends only its own
  /// tokens. Batched decode (one token per sequence) is one parallel pass.
  void append_and_attend(int layer, std::span<const seq_run> runs, const dyn_view3& q, const dyn_view3& k,
                         const dyn_view3& v, const tensor_view<float, 3>& out, stream s = {}) {
    check_budget(layer, runs, true);
    at(layer).append_and_attend(runs, q, k, v, out, s);
  }
  /// Stores k, v `[n, kv_heads, head_dim]` of n new positions in `layer` without attending.
  void append(int layer, const dyn_view3& k, const dyn_view3& v) { append(layer, default_seq, k, v); }
  void append(int layer, seq_id seq, const dyn_view3& k, const dyn_view3& v) {
    const seq_run run{seq, k.extent(0)};
    check_budget(layer, {&run, 1}, false);
    at(layer).append(seq, k, v);
  }

  // ---- sequences --------------------------------------------------------------------------
  /// The sequences held (those of layer 0; every layer holds the same after whole-model steps).
  std::vector<seq_id> sequences() const { return layers_.front()->sequences(); }
  bool has_sequence(seq_id seq) const { return layers_.front()->has_sequence(seq); }
  /// Tokens `seq` holds in `layer` (0 when not held).
  std::size_t size(int layer, seq_id seq) const { return at(layer).size(seq); }
  /// Keeps the first n tokens of `seq` in every layer (rollback of a rejected draft, an edited
  /// turn). Throws for a sequence not held.
  void truncate(seq_id seq, std::size_t n) {
    require_held(seq);
    for (auto& l : layers_) l->truncate(seq, n);
  }
  /// Drops `seq` from every layer.
  void remove(seq_id seq) {
    require_held(seq);
    for (auto& l : layers_) l->remove(seq);
  }
  /// Makes `dst` share every stored token of `src` in every layer (no copy of shared pages).
  void fork(seq_id src, seq_id dst) {
    require_held(src);
    detail::require(!has_sequence(dst), "fork: sequence ", to_string(dst), " is already held");
    if (budgeted()) {
      memory_footprint cost;
      for (const auto& l : layers_) cost += l->fork_cost(src);
      check_tiers(cost, "fork of sequence " + to_string(src));
    }
    for (auto& l : layers_) l->fork(src, dst);
  }
  /// Bytes `seq` holds in every layer, its shared pages counted in full.
  memory_footprint footprint(seq_id seq) const {
    memory_footprint f;
    for (const auto& l : layers_) f += l->footprint(seq);
    return f;
  }
  /// The byte budget (0 = unlimited per tier). Every layer's policy must be a sequence_policy
  /// (it predicts what an append allocates); throws naming the layer otherwise.
  void set_budget(const memory_budget& budget) {
    if (budget.device_bytes || budget.host_bytes)
      for (std::size_t l = 0; l < layers_.size(); ++l)
        detail::require(layers_[l]->supports_sequences(), "set_budget: layer ", l, " policy '", layers_[l]->spec(),
                        "' cannot say what an append allocates, so it cannot be budgeted");
    budget_ = budget;
  }
  const memory_budget& budget() const { return budget_; }
  /// `seq`'s stored form in every layer (arrays named "layer.L.…"); io::save_sequence writes it.
  sequence_state save_state(seq_id seq) const {
    require_held(seq);
    sequence_state state;
    for (std::size_t l = 0; l < layers_.size(); ++l)
      layers_[l]->save_state(seq, state, "layer." + std::to_string(l) + ".");
    return state;
  }
  /// Loads a saved state into `seq` (new or empty) in every layer; every layer's arrays are
  /// checked before any is stored, so a bad state leaves the cache unchanged.
  void load_state(seq_id seq, const sequence_state& state) {
    for (std::size_t l = 0; l < layers_.size(); ++l)
      detail::require(layers_[l]->size(seq) == 0, "load_state: sequence ", to_string(seq), " is not empty");
    std::size_t loaded = 0;
    try {
      for (; loaded < layers_.size(); ++loaded)
        layers_[loaded]->load_state(seq, state, "layer." + std::to_string(loaded) + ".");
    } catch (...) {
      for (std::size_t l = 0; l < loaded; ++l) layers_[l]->truncate(seq, 0);
      throw;
    }
  }
  /// Hands `layer` the query predicted for its next step, `[1, q_heads, head_dim]` (optional;
  /// policies without use for it ignore it).
  void prefetch_hint(int layer, const dyn_view3& predicted_q, stream s = {}) { at(layer).prefetch_hint(predicted_q, s); }
  void prefetch_hint(int layer, seq_id seq, const dyn_view3& predicted_q, stream s = {}) {
    at(layer).prefetch_hint(seq, predicted_q, s);
  }

  /// Tokens held by `layer`.
  std::size_t size(int layer) const { return at(layer).size(); }
  /// The spec `layer` was built from.
  const std::string& spec(int layer) const { return at(layer).spec(); }
  /// Bytes held by all layers and sequences, by tier (shared pages counted once).
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
  /// Drops every sequence of every layer; the default sequence is there again, empty.
  void clear() {
    for (auto& l : layers_) l->clear();
  }
  /// Stored positions the last step of `layer` attended for `kv_head`; nullopt if it attends all.
  std::optional<std::vector<std::size_t>> attended_positions(int layer, std::size_t kv_head) const {
    return at(layer).attended_positions(kv_head);
  }
  std::optional<std::vector<std::size_t>> attended_positions(int layer, seq_id seq, std::size_t kv_head) const {
    return at(layer).attended_positions(seq, kv_head);
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
  bool budgeted() const { return budget_.device_bytes || budget_.host_bytes; }
  void require_held(seq_id seq) const {
    detail::require(has_sequence(seq), "no sequence ", to_string(seq), " in this cache");
  }
  void check_budget(int layer, std::span<const seq_run> runs, bool attends) const {
    if (!budgeted()) return;
    std::size_t tokens = 0;
    for (const auto& r : runs) tokens += r.tokens;
    check_tiers(at(layer).growth(runs, attends),
                "layer " + std::to_string(layer) + "'s append of " + std::to_string(tokens) + " tokens");
  }
  void check_tiers(const memory_footprint& ask, const std::string& what) const {
    const memory_footprint held = footprint();
    auto check = [&](const char* tier, std::size_t budget, std::size_t used, std::size_t asked) {
      if (budget == 0 || asked == 0) return;
      const std::size_t left = budget > used ? budget - used : 0;
      detail::require(asked <= left, "kv_cache: the ", tier, " tier budget of ", budget, " bytes would be exceeded: ", what,
                      " asks ", asked, " bytes, ", left, " are left");
    };
    check("device", budget_.device_bytes, held.device_bytes, ask.device_bytes);
    check("host", budget_.host_bytes, held.host_bytes, ask.host_bytes);
  }
  layer_cache& at(int layer) const {
    detail::require(layer >= 0 && layer < int(layers_.size()), "layer ", layer, " out of range [0, ",
                    layers_.size(), ")");
    return *layers_[std::size_t(layer)];
  }

  layer_shape shape_;
  std::vector<std::unique_ptr<layer_cache>> layers_;
  memory_budget budget_;
};

}  // namespace kvc
