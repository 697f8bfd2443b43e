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
