// kvc::layer_cache: the run-time face of one layer's cache and its sequences, and the wrapper
// that gives any policy that face.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kvc/backend/cpu.hpp"
#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/sequence.hpp"
#include "kvc/core/sequence_state.hpp"
#include "kvc/core/step_checks.hpp"
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
///
/// Sequences: a layer holds sequences by id, all on the storage pools of one policy
/// (kvc::sequence_policy: fork, truncate, byte growth, saved state). The calls without a seq_id
/// act on the default sequence 0, which exists from the start. A policy that is not a
/// sequence_policy holds only the default sequence; the sequence calls on it throw kvc::error.
class layer_cache {
 public:
  virtual ~layer_cache() = default;

  /// Stores k, v `[n, kv_heads, head_dim]` and writes out `[n, q_heads, head_dim]` f32 = attention
  /// of q `[n, q_heads, head_dim]` over everything held (kvc::layer_cache_policy), ordered on `s`.
  void append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out, stream s = {}) {
    do_append_and_attend(q, k, v, out, s);
  }
  /// A varlen batch: run i's tokens are the next `batch[i].tokens` rows of q `[rows, q_heads,
  /// head_dim]`, k, v `[rows, kv_heads, head_dim]` and out; each sequence (created if new)
  /// attends only its own tokens. A batch of single tokens (batched decode) is one parallel pass.
  void append_and_attend(std::span<const seq_run> batch, const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out, stream s = {}) {
    do_append_batch(batch, q, k, v, out, s);
  }
  /// Stores k, v `[n, kv_heads, head_dim]` of n new positions without attending.
  void append(const dyn_view3& k, const dyn_view3& v) { append(default_seq, k, v); }
  virtual void append(seq_id seq, const dyn_view3& k, const dyn_view3& v) = 0;
  /// Offers the query predicted for the next step, `[1, q_heads, head_dim]` (ignored by policies
  /// without use for it); copies it starts are ordered on `s`.
  void prefetch_hint(const dyn_view3& predicted_q, stream s = {}) { do_prefetch_hint(default_seq, predicted_q, s); }
  void prefetch_hint(seq_id seq, const dyn_view3& predicted_q, stream s = {}) { do_prefetch_hint(seq, predicted_q, s); }

  /// Tokens held by the default sequence / by `seq` (0 for a sequence not held).
  std::size_t size() const { return size(default_seq); }
  virtual std::size_t size(seq_id seq) const = 0;
  virtual layer_shape shape() const = 0;
  /// Bytes held by every sequence, by tier; pages shared by forks counted once.
  virtual memory_footprint footprint() const = 0;
  /// Bytes `seq` holds, its shared pages counted in full.
  virtual memory_footprint footprint(seq_id seq) const = 0;
  /// Bytes moved between tiers since construction or clear(), all sequences (removed ones too).
  virtual transfer_traffic traffic() const = 0;
  /// Drops every sequence; the default sequence is there again, empty (the same policy object:
  /// a calibrated layer keeps its choice).
  virtual void clear() = 0;
  /// Diagnostics: the stored positions the last step attended for `kv_head` (sparse policies);
  /// nullopt when the policy attends everything it holds.
  std::optional<std::vector<std::size_t>> attended_positions(std::size_t kv_head) const {
    return attended_positions(default_seq, kv_head);
  }
  virtual std::optional<std::vector<std::size_t>> attended_positions(seq_id seq, std::size_t kv_head) const = 0;
  /// The spec this cache was built from (or the name its maker gave it).
  virtual const std::string& spec() const = 0;

  // ---- sequences ------------------------------------------------------------------------------
  /// True when the policy holds many sequences (kvc::sequence_policy).
  virtual bool supports_sequences() const = 0;
  virtual bool has_sequence(seq_id seq) const = 0;
  /// The ids held, ascending.
  virtual std::vector<seq_id> sequences() const = 0;
  /// Keeps the first n tokens of `seq`.
  virtual void truncate(seq_id seq, std::size_t n) = 0;
  /// Drops `seq` and its tokens (pages it shared stay with the others).
  virtual void remove(seq_id seq) = 0;
  /// Makes `dst` (not held) a sequence sharing every stored token of `src`.
  virtual void fork(seq_id src, seq_id dst) = 0;
  /// Bytes by tier that `batch` appended (attended when `attends`) would allocate, or that
  /// fork(src, ...) would, in `fork_cost`.
  virtual memory_footprint growth(std::span<const seq_run> batch, bool attends) const = 0;
  virtual memory_footprint fork_cost(seq_id src) const = 0;
  /// Scratch a decode step allocates per sequence once it holds `held` tokens (sparse's gather
  /// buffer, kept for the next steps), beyond what growth() of the prefill says; {} for
  /// policies without such scratch. Planners add it to size a cache ahead (kvc::plan_kv_bytes).
  virtual memory_footprint decode_scratch(std::size_t held) const {
    (void)held;
    return {};
  }
  /// Saves `seq`'s stored form under `prefix`; loads it into `seq` (new or empty).
  virtual void save_state(seq_id seq, sequence_state& state, const std::string& prefix) const = 0;
  virtual void load_state(seq_id seq, const sequence_state& state, const std::string& prefix) = 0;

  /// The default sequence's concrete policy if it is a P, else nullptr (typed; no casts by the
  /// caller).
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
  virtual void do_append_batch(std::span<const seq_run> batch, const dyn_view3& q, const dyn_view3& k,
                               const dyn_view3& v, const tensor_view<float, 3>& out, stream s) = 0;
  virtual void do_prefetch_hint(seq_id seq, const dyn_view3& predicted_q, stream s) = 0;
};

namespace detail {
template <class V>
struct stored_element;
template <class T>
struct stored_element<stored_view<T>> {
  using type = T;
};
}  // namespace detail

/// A policy behind the layer_cache face: one policy value per sequence, in a map by id. Optional
/// policy members (stream, prefetch hint, attended positions, sequences, split steps) are used
/// when present; without them the calls fall back as layer_cache says.
template <layer_cache_policy P>
class policy_layer_cache final : public layer_cache {
  static constexpr bool sequences_ok = sequence_policy<P>;

 public:
  policy_layer_cache(P policy, std::string spec) : spec_(std::move(spec)) {
    if constexpr (sequences_ok) prototype_.emplace(policy.empty_like());
    seqs_.emplace(default_seq, std::move(policy));
  }

  void append(seq_id seq, const dyn_view3& k, const dyn_view3& v) override { get(seq).append(k, v); }
  std::size_t size(seq_id seq) const override {
    const auto it = seqs_.find(seq);
    return it == seqs_.end() ? 0 : it->second.size();
  }
  layer_shape shape() const override { return any().shape(); }
  memory_footprint footprint() const override {
    if constexpr (sequences_ok) {
      memory_footprint f;
      std::vector<const void*> pools;  // each set of pools counted once
      auto count_pools = [&](const P& p) {
        const void* id = p.pool_id();
        if (id == nullptr || std::find(pools.begin(), pools.end(), id) != pools.end()) return;
        pools.push_back(id);
        f += p.pool_footprint();
      };
      count_pools(*prototype_);
      for (const auto& [id, p] : seqs_) {
        f += p.footprint() - p.pooled_footprint();
        count_pools(p);
      }
      return f;
    } else {
      return seqs_.empty() ? memory_footprint{} : seqs_.begin()->second.footprint();
    }
  }
  memory_footprint footprint(seq_id seq) const override { return held(seq).footprint(); }
  transfer_traffic traffic() const override {
    transfer_traffic t = retired_;
    for (const auto& [id, p] : seqs_) t += p.traffic();
    return t;
  }
  void clear() override {
    retired_ = {};
    // the default sequence's policy object stays (pointers from as<P>() remain valid, a
    // tailorkv layer keeps its choice); the others go
    std::erase_if(seqs_, [](const auto& entry) { return entry.first != default_seq; });
    if (seqs_.empty()) get(default_seq);
    else seqs_.begin()->second.clear();
  }
  std::optional<std::vector<std::size_t>> attended_positions(seq_id seq, std::size_t kv_head) const override {
    if constexpr (reports_attended_positions<P>) return held(seq).attended_positions(kv_head);
    else return std::nullopt;
  }
  const std::string& spec() const override { return spec_; }

  bool supports_sequences() const override { return sequences_ok; }
  bool has_sequence(seq_id seq) const override { return seqs_.contains(seq); }
  std::vector<seq_id> sequences() const override {
    std::vector<seq_id> ids;
    for (const auto& [id, p] : seqs_) ids.push_back(id);
    return ids;
  }
  void truncate(seq_id seq, std::size_t n) override {
    if constexpr (sequences_ok) held(seq).truncate(n);
    else unsupported("truncate");
  }
  void remove(seq_id seq) override {
    if constexpr (sequences_ok) {
      retired_ += held(seq).traffic();
      seqs_.erase(seq);
    } else {
      unsupported("remove");
    }
  }
  void fork(seq_id src, seq_id dst) override {
    if constexpr (sequences_ok) {
      detail::require(!seqs_.contains(dst), "fork: sequence ", to_string(dst), " is already held");
      seqs_.emplace(dst, held(src).fork());
    } else {
      unsupported("fork");
    }
  }
  memory_footprint growth(std::span<const seq_run> batch, bool attends) const override {
    if constexpr (sequences_ok) {
      detail::growth g;
      std::optional<P> fresh;  // every new sequence starts as this one (made once: it may allocate)
      for (const seq_run& r : batch) {
        const auto it = seqs_.find(r.seq);
        if (it != seqs_.end()) {
          g += it->second.growth(r.tokens, attends);
        } else {  // a new sequence: what it holds empty, then its growth
          if (!fresh) fresh.emplace(any().empty_like());
          g.direct += fresh->footprint() - fresh->pooled_footprint();
          g += fresh->growth(r.tokens, attends);
        }
      }
      return g.bytes();
    } else {
      unsupported("a byte budget");
    }
  }
  memory_footprint decode_scratch(std::size_t held) const override {
    if constexpr (requires(const P& p) { { p.decode_scratch(held) } -> std::same_as<memory_footprint>; })
      return any().decode_scratch(held);
    else
      return {};
  }
  memory_footprint fork_cost(seq_id src) const override {
    if constexpr (sequences_ok) {
      const P& p = held(src);
      return p.footprint() - p.pooled_footprint();
    } else {
      unsupported("fork");
    }
  }
  void save_state(seq_id seq, sequence_state& state, const std::string& prefix) const override {
    if constexpr (sequences_ok) held(seq).save_state(state, prefix);
    else unsupported("saved state");
  }
  void load_state(seq_id seq, const sequence_state& state, const std::string& prefix) override {
    if constexpr (sequences_ok) {
      detail::require(size(seq) == 0, "load_state: sequence ", to_string(seq), " is not empty");
      P fresh = any().empty_like();
      fresh.load_state(state, prefix);  // throws before anything is stored in the layer
      seqs_.insert_or_assign(seq, std::move(fresh));
    } else {
      unsupported("saved state");
    }
  }

  /// The default sequence's policy (made again, empty, if it was removed).
  P& policy() { return get(default_seq); }
  const P& policy() const { return held(default_seq); }
  /// The policy of `seq` (created if new).
  P& policy(seq_id seq) { return get(seq); }

 private:
  [[noreturn]] void unsupported(const char* what) const {
    detail::fail("layer policy '", spec_, "' holds one sequence: it has no ", what,
                 " (a kvc::sequence_policy has; see policy/concepts.hpp)");
  }
  /// A sequence to make new ones from: a held one with pools (they share them; a tailorkv
  /// layer's new sequences take its choice), else any held one, else the prototype.
  const P& any() const {
    if constexpr (sequences_ok) {
      for (const auto& [id, p] : seqs_)
        if (p.pool_id() != nullptr) return p;
      return seqs_.empty() ? *prototype_ : seqs_.begin()->second;
    } else {
      return seqs_.begin()->second;
    }
  }
  const P& held(seq_id seq) const {
    const auto it = seqs_.find(seq);
    detail::require(it != seqs_.end(), "no sequence ", to_string(seq), " in this cache");
    return it->second;
  }
  P& held(seq_id seq) { return const_cast<P&>(std::as_const(*this).held(seq)); }
  P& get(seq_id seq) {
    const auto it = seqs_.find(seq);
    if (it != seqs_.end()) return it->second;
    if constexpr (sequences_ok) return seqs_.emplace(seq, any().empty_like()).first->second;
    else unsupported("sequences other than the default");
  }

  void do_append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                            const tensor_view<float, 3>& out, stream s) override {
    step(get(default_seq), q, k, v, out, s);
  }
  static void step(P& p, const dyn_view3& q, const dyn_view3& k, const dyn_view3& v, const tensor_view<float, 3>& out,
                   stream s) {
    if constexpr (accepts_stream<P>) p.append_and_attend(q, k, v, out, s);
    else p.append_and_attend(q, k, v, out);  // a host policy: synchronous, no stream
  }
  void do_append_batch(std::span<const seq_run> batch, const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                       const tensor_view<float, 3>& out, stream s) override {
    const layer_shape sh = shape();
    const std::size_t rows = check_step(sh, q, k, v, out);
    std::vector<std::size_t> first{0};
    for (std::size_t i = 0; i < batch.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j)
        detail::require(batch[j].seq != batch[i].seq, "batch: sequence ", to_string(batch[i].seq), " appears twice");
      first.push_back(first.back() + batch[i].tokens);
    }
    detail::require(first.back() == rows, "batch: the runs hold ", first.back(), " tokens, the tensors ", rows, " rows");
    std::vector<P*> ps;
    for (const seq_run& r : batch) ps.push_back(&get(r.seq));
    if constexpr (batch_policy<P>) {
      using view = decltype(std::declval<P&>().begin_step(q, k, s));
      using T = typename detail::stored_element<view>::type;
      std::vector<stored_view<T>> views;
      for (std::size_t i = 0; i < ps.size(); ++i)
        views.push_back(ps[i]->begin_step(q.rows(first[i], batch[i].tokens), k.rows(first[i], batch[i].tokens), s));
      cpu::attend_batch<T>(sh, views, first, q, k, v, out, s);
      for (std::size_t i = 0; i < ps.size(); ++i)
        ps[i]->end_step(k.rows(first[i], batch[i].tokens), v.rows(first[i], batch[i].tokens));
    } else {
      for (std::size_t i = 0; i < ps.size(); ++i) {
        const std::size_t n = batch[i].tokens;
        step(*ps[i], q.rows(first[i], n), k.rows(first[i], n), v.rows(first[i], n), out.rows(first[i], n), s);
      }
    }
  }
  void do_prefetch_hint(seq_id seq, const dyn_view3& predicted_q, stream s) override {
    P& p = get(seq);
    if constexpr (requires { p.prefetch_hint(predicted_q, s); }) p.prefetch_hint(predicted_q, s);
    else if constexpr (accepts_prefetch_hint<P>) p.prefetch_hint(predicted_q);
  }

  std::map<seq_id, P> seqs_;
  std::optional<P> prototype_;  // an empty sequence on the pools, to make sequences from
  transfer_traffic retired_;    // traffic of removed sequences
  std::string spec_;
};

/// Gives `policy` the run-time face; `spec` is what spec() reports (the text it was built from).
template <layer_cache_policy P>
std::unique_ptr<layer_cache> wrap_policy(P policy, std::string spec) {
  return std::make_unique<policy_layer_cache<P>>(std::move(policy), std::move(spec));
}

}  // namespace kvc
