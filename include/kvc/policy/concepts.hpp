// The layer-cache contract every policy satisfies (kvc::layer_cache_policy).
#pragma once

#include <concepts>
#include <cstddef>
#include <vector>

#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/core/tensor_view.hpp"

namespace kvc {

/// The layer-cache contract, in prose:
///
/// - `append_and_attend(q, k, v, out)`: q `[n, q_heads, head_dim]`, k and v
///   `[n, kv_heads, head_dim]` (f32, bf16 or f16; keys after norm and RoPE) are n new
///   consecutive positions. The policy stores k and v, and writes out `[n, q_heads, head_dim]`
///   (f32): causal attention of each new query over every earlier token and the new tokens up to
///   itself. Attention among the n new tokens is exact; attention to earlier tokens uses the
///   policy's stored form. So a whole-prompt prefill is exact, chunked prefill sees earlier
///   chunks compressed, and decode (n = 1) reads the compressed cache. Query head h reads KV head
///   h / (q_heads / kv_heads); the softmax scale is `shape().softmax_scale()`.
/// - `append(k, v)`: stores n positions without attending (loading a prefix, replaying traces).
/// - `size()`: tokens held. `shape()`: the layer's head layout.
/// - `footprint()`: bytes by tier, nothing hidden. `traffic()`: cumulative bytes moved between
///   tiers. `clear()`: drops every token and resets traffic.
///
/// Optional members (no-ops when absent; see `kvc::layer_cache`):
/// - `append_and_attend(q, k, v, out, stream)`: the same step ordered on a `kvc::stream`; a
///   policy without it runs synchronously on the host;
/// - `prefetch_hint(predicted_q[, stream])` with predicted_q `[1, q_heads, head_dim]`, the query expected
///   at this layer's next step;
/// - `attended_positions(kv_head)`, the stored positions the last step read (sparse policies);
/// - `allocated_bytes()`, the bytes its containers hold, counted from the containers themselves
///   (the contract test checks footprint() against it).
/// Wrong shapes, dtypes or memory spaces (a device view passed to a CPU policy) raise kvc::error
/// naming the argument and the expected value; a bad call leaves the cache unchanged.
template <class P>
concept layer_cache_policy = requires(P p, const P cp, const dyn_view3& q, const dyn_view3& k,
                                      const dyn_view3& v, const tensor_view<float, 3>& out) {
  { p.append_and_attend(q, k, v, out) } -> std::same_as<void>;
  { p.append(k, v) } -> std::same_as<void>;
  { cp.size() } -> std::convertible_to<std::size_t>;
  { cp.shape() } -> std::convertible_to<layer_shape>;
  { cp.footprint() } -> std::same_as<memory_footprint>;
  { cp.traffic() } -> std::same_as<transfer_traffic>;
  { p.clear() } -> std::same_as<void>;
};

/// Policies whose step takes a stream.
template <class P>
concept accepts_stream = requires(P p, const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                                  const tensor_view<float, 3>& out, stream s) {
  { p.append_and_attend(q, k, v, out, s) } -> std::same_as<void>;
};

/// Policies that accept a next-step query prediction.
template <class P>
concept accepts_prefetch_hint = requires(P p, const dyn_view3& predicted_q) {
  { p.prefetch_hint(predicted_q) } -> std::same_as<void>;
};

/// Sparse policies: the stored positions the last decode step attended for a KV head (sinks,
/// window and selected tokens), for recall diagnostics.
template <class P>
concept reports_attended_positions = requires(const P cp, std::size_t kv_head) {
  { cp.attended_positions(kv_head) } -> std::convertible_to<std::vector<std::size_t>>;
};

}  // namespace kvc

namespace kvc {
/// Policies that report the bytes their containers hold (for checking footprint()).
template <class P>
concept reports_allocated_bytes = requires(const P cp) {
  { cp.allocated_bytes() } -> std::convertible_to<std::size_t>;
};
}  // namespace kvc

#include <string>

#include "kvc/backend/stored_view.hpp"
#include "kvc/core/sequence_state.hpp"
#include "kvc/detail/growth.hpp"

namespace kvc {

/// Policies whose layer holds many sequences on shared storage (kvc::layer_cache's sequences).
/// One policy value is one sequence:
/// - `empty_like()`: a new, empty sequence with the same options on the same pools;
/// - `fork()`: a sequence holding the same tokens, sharing stored pages (reference-counted; a
///   write to a shared page copies it first);
/// - `truncate(n)`: keeps the first n tokens; what a cut compressed block becomes is the policy's
///   to say, but nothing of a dropped token may be read again;
/// - `growth(n, attends)`: the bytes by tier an append of n tokens (through append_and_attend when
///   `attends`) would allocate, so a byte budget can refuse it before anything changes;
/// - `pooled_footprint()`: of footprint(), the bytes of shared pool pages; `pool_footprint()`:
///   those pools as allocated, counted once for all the sequences with the same `pool_id()`
///   (nullptr: no pools yet);
/// - `save_state(state, prefix)` / `load_state(state, prefix)`: the stored form, bit for bit,
///   loaded into an empty sequence with every array checked.
template <class P>
concept sequence_policy =
    layer_cache_policy<P> && requires(P p, const P cp, std::size_t n, sequence_state& out, const sequence_state& in,
                                      const std::string& prefix) {
      { cp.empty_like() } -> std::same_as<P>;
      { cp.fork() } -> std::same_as<P>;
      p.truncate(n);
      { cp.growth(n, true) } -> std::same_as<detail::growth>;
      { cp.pooled_footprint() } -> std::same_as<memory_footprint>;
      { cp.pool_footprint() } -> std::same_as<memory_footprint>;
      { cp.pool_id() } -> std::convertible_to<const void*>;
      cp.save_state(out, prefix);
      p.load_state(in, prefix);
    };

/// Policies whose step splits in two around the backend's attention, so a batch of sequences is
/// attended in one pass: `begin_step(q, k, stream)` returns what the step of q `[n, q_heads,
/// head_dim]` attends (selection, gathers), `end_step(k, v)` stores the new tokens.
template <class P>
concept batch_policy = requires(P p, const dyn_view3& q, const dyn_view3& k, const dyn_view3& v, stream s) {
  p.begin_step(q, k, s);
  p.end_step(k, v);
};

}  // namespace kvc
