// Bytes ahead of time: what a cache, a model and a batch will take on each tier, from the same growth() that sizes real caches.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kvc/cache.hpp"
#include "kvc/core/accounting.hpp"
#include "kvc/core/error.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/sequence.hpp"
#include "kvc/plan/plan.hpp"

namespace kvc {

/// The KV bytes of `batch` sequences that each hold `context` tokens, the last of them appended
/// by a decode step (so decode scratch such as sparse's gather buffers is allocated). The figures
/// are device_bytes, host_bytes and metadata_bytes; reserved_bytes (slack inside what is
/// allocated) is not planned and stays 0.
struct kv_bytes_plan {
  memory_footprint held;     // stored tokens, windows, scales and selection metadata, by tier
  memory_footprint scratch;  // decode-step scratch kept between steps (sparse gather buffers)
  memory_footprint total() const { return held + scratch; }
};

/// Plans the KV bytes for an empty `cache`: what it holds empty, plus every layer's growth() for
/// `batch` new sequences of context − 1 tokens and one decode token each, plus each layer's
/// decode_scratch(context − 1). Nothing is allocated; the figures come from the code that sizes
/// the cache's own appends, so they equal footprint() of the cache filled that way (prefill of
/// context − 1 tokens in any chunks, then one decode step): device, host and metadata bytes.
/// Throws kvc::error for a cache that holds tokens, a layer that cannot predict (not a
/// kvc::sequence_policy), context 0 or batch 0.
inline kv_bytes_plan plan_kv_bytes(const kv_cache& empty, std::size_t context, std::size_t batch) {
  detail::require(context > 0, "plan_kv_bytes: context must be at least 1 token");
  detail::require(batch > 0, "plan_kv_bytes: batch must be at least 1 sequence");
  for (int l = 0; l < empty.layers(); ++l) {
    detail::require(empty.size(l) == 0 && empty.sequences().size() == 1, "plan_kv_bytes: layer ", l,
                    " holds tokens; plan with an empty cache");
    detail::require(empty.layer(l).supports_sequences(), "plan_kv_bytes: layer ", l, " ('", empty.spec(l),
                    "') cannot predict its bytes (not a sequence policy)");
  }
  std::vector<seq_run> runs;
  for (std::size_t i = 0; i < batch; ++i) runs.push_back({seq_id(std::uint32_t(i)), context});
  kv_bytes_plan p;
  p.held = empty.footprint();
  for (int l = 0; l < empty.layers(); ++l) {
    // one append of `context` tokens holds what a prefill of context − 1 and a decode token hold
    p.held += empty.layer(l).growth(runs, false);
    const memory_footprint s = empty.layer(l).decode_scratch(context - 1);
    for (std::size_t i = 0; i < batch; ++i) p.scratch += s;
  }
  return p;
}

/// The same for a cache built from `plan` on `shape` (one layer per plan entry).
inline kv_bytes_plan plan_kv_bytes(const cache_plan& plan, const layer_shape& shape, std::size_t context,
                                   std::size_t batch) {
  const kv_cache empty(plan, shape);
  return plan_kv_bytes(empty, context, batch);
}

/// What plan_memory is asked: a model's attention shape and its other bytes, a cache plan, the
/// load, and the device.
struct memory_request {
  cache_plan plan;                   // one policy spec per layer
  int num_layers = 0;                // the model's layers: the plan must have as many
  layer_shape shape;                 // the whole model's attention heads (before tensor parallelism)
  std::size_t context = 0;           // tokens each sequence holds
  std::size_t batch = 1;             // sequences
  int tensor_parallel = 1;           // devices the KV heads and the weights are split across
  std::size_t weight_bytes = 0;      // every weight of the model (split evenly across the devices)
  std::size_t activation_bytes = 0;  // activations and workspace per device (one prefill chunk)
  std::size_t device_memory = 0;     // bytes of one device
  std::size_t host_memory = 0;       // host bytes the KV host tier may take per device; 0: unlimited
  std::size_t reserve_bytes = 0;     // slack kept free per device (runtime, fragmentation)
};

/// Bytes per device, by what they hold; `fits` when device_total() ≤ device_memory and, when a
/// host limit is given, host_total() ≤ host_memory.
struct memory_report {
  std::size_t weights = 0;
  kv_bytes_plan kv;  // per device: the KV heads of one tensor-parallel rank
  std::size_t activations = 0;
  std::size_t reserve = 0;
  std::size_t device_memory = 0;
  std::size_t host_memory = 0;  // 0: unlimited
  std::size_t device_total() const { return weights + kv.total().device_bytes + activations + reserve; }
  std::size_t host_total() const { return kv.total().host_bytes; }
  bool fits() const {
    return device_total() <= device_memory && (host_memory == 0 || host_total() <= host_memory);
  }
};

namespace detail {
inline layer_shape tensor_parallel_shape(const layer_shape& s, int tp) {
  require(tp >= 1, "tensor-parallel degree must be at least 1, got ", tp);
  require(s.kv_heads % tp == 0, "tensor-parallel degree ", tp, " does not divide the ", s.kv_heads, " KV heads");
  require(s.q_heads % tp == 0, "tensor-parallel degree ", tp, " does not divide the ", s.q_heads, " query heads");
  return {s.q_heads / tp, s.kv_heads / tp, s.head_dim};
}
/// An empty cache of one tensor-parallel rank, built from r.plan after checking it fits the model.
inline kv_cache rank_cache(const memory_request& r) {
  r.plan.validate_for(r.num_layers);
  return kv_cache(r.plan, tensor_parallel_shape(r.shape, r.tensor_parallel));
}

/// plan_memory on an empty cache of one rank already built from r.plan.
inline memory_report report_for(const memory_request& r, const kv_cache& empty) {
  const std::size_t tp = std::size_t(r.tensor_parallel);
  memory_report m;
  m.weights = (r.weight_bytes + tp - 1) / tp;
  m.kv = plan_kv_bytes(empty, r.context, r.batch);
  m.activations = r.activation_bytes;
  m.reserve = r.reserve_bytes;
  m.device_memory = r.device_memory;
  m.host_memory = r.host_memory;
  return m;
}
}  // namespace detail

/// Bytes per device for `r`: the weights' share, the KV of one tensor-parallel rank (its
/// kv_heads / tp heads, planned by plan_kv_bytes), the activations and the reserve. Throws
/// kvc::error for a plan with another layer count than the model, a degree that does not divide
/// the heads, context or batch 0, or a bad spec.
inline memory_report plan_memory(const memory_request& r) {
  return detail::report_for(r, detail::rank_cache(r));
}

/// The largest value of `r.*field` (context or batch) up to `limit` for which plan_memory fits;
/// 0 when not even 1 fits. The KV bytes only grow with either, so a binary search is exact.
inline std::size_t largest_fitting(memory_request r, std::size_t memory_request::*field, std::size_t limit) {
  const kv_cache empty = detail::rank_cache(r);
  const auto fits = [&](std::size_t v) {
    r.*field = v;
    return detail::report_for(r, empty).fits();
  };
  if (limit == 0 || !fits(1)) return 0;
  std::size_t lo = 1, hi = limit;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

}  // namespace kvc
