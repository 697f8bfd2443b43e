// The full policy: plain keys and values in f32, bf16 or f16; the baseline of every comparison.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kvc/backend/cpu.hpp"
#include "kvc/backend/stored_view.hpp"
#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/sequence_state.hpp"
#include "kvc/core/step_checks.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/detail/growth.hpp"
#include "kvc/detail/page_store.hpp"
#include "kvc/policy/concepts.hpp"
#include "kvc/policy/spec.hpp"

namespace kvc {

/// Options of the full policy. Spec: `full:dtype=bf16` (or f32, f16; `full:bf16` for short),
/// optionally `page=N` (tokens per page, default 256).
struct full_options {
  dtype storage = dtype::bf16;
  std::size_t page_tokens = 256;

  static full_options from_spec(const policy_spec& spec) {
    detail::require(spec.name == "full", "not a full policy spec: '", spec.text, "'");
    spec_reader r(spec);
    full_options o;
    if (!spec.args.empty()) {  // the shorthand full:bf16
      try {
        o.storage = parse_dtype(spec.args[0]);
      } catch (const kvc::error& e) {
        detail::fail("policy spec '", spec.text, "': ", e.what());
      }
      detail::require(r.text("dtype", "").empty(), "policy spec '", spec.text,
                      "': give the dtype once (full:bf16 or full:dtype=bf16)");
    } else {
      o.storage = r.element_type("dtype", dtype::bf16);
    }
    o.page_tokens = std::size_t(r.integer("page", 256, 1, 1 << 20));
    r.finish(1);
    return o;
  }
};

/// Uncompressed KV in storage type T (float, bf16 or f16), all device-resident.
///
/// Sequences: one full_cache is one sequence; `empty_like()` and `fork()` make more on the same
/// page pool. A fork shares every page; the first write into a shared page (the partly filled
/// last one) copies it. truncate(n) is exact: the pages past n go back to the pool.
template <class T>
class full_cache {
 public:
  explicit full_cache(const layer_shape& shape, const full_options& options = {})
      : shape_((shape.validate(), shape)), store_(shape, options.page_tokens) {}

  const layer_shape& shape() const { return shape_; }
  std::size_t size() const { return store_.size(); }

  void append(const dyn_view3& k, const dyn_view3& v) {
    check_kv(shape_, k, v);
    store_.append(k, v);
  }

  void append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out, stream s = {}) {
    cpu::attend_step(shape_, stored(), q, k, v, out, s);
    store_.append(k, v);
  }

  /// A step in two halves, for batches (kvc::batch_policy): what the step attends, then storing
  /// its k, v. append_and_attend is the two with the CPU backend's attend_step between them.
  stored_view<T> begin_step(const dyn_view3&, const dyn_view3&, stream) { return stored(); }
  void end_step(const dyn_view3& k, const dyn_view3& v) { store_.append(k, v); }

  /// What a step attends: every page as a segment.
  stored_view<T> stored() const { return {store_.segments(0, store_.size())}; }

  memory_footprint footprint() const { return {store_.allocated_bytes(), 0, 0, store_.reserved_bytes()}; }
  /// Bytes of the page blocks as allocated.
  std::size_t allocated_bytes() const { return store_.allocated_bytes(); }
  transfer_traffic traffic() const { return {}; }
  void clear() { store_.clear(); }

  // ---- sequences (kvc::sequence_policy) -----------------------------------------------------
  /// A new, empty sequence on the same page pool.
  full_cache empty_like() const {
    full_cache c(*this);
    c.store_.clear();
    return c;
  }
  /// A sequence sharing every stored token (pages reference-counted, copied on write).
  full_cache fork() const { return *this; }
  /// Keeps the first n tokens (n >= size() changes nothing).
  void truncate(std::size_t n) { store_.truncate(n); }
  /// What appending n tokens would allocate.
  detail::growth growth(std::size_t n, bool = true) const {
    detail::growth g;
    store_.add_growth(n, g);
    return g;
  }
  /// Identifies the pools this sequence shares with the others made from it.
  const void* pool_id() const { return &store_.pool(); }
  /// Of footprint(), the bytes of pool pages (shared ones included).
  memory_footprint pooled_footprint() const { return {store_.allocated_bytes(), 0, 0, 0}; }
  /// The page pool of every sequence made from this one, counted once.
  memory_footprint pool_footprint() const { return store_.pool().footprint(true); }
  /// Saves the tokens as `prefix`k and `prefix`v `[size, kv_heads, head_dim]` of T.
  void save_state(sequence_state& state, const std::string& prefix) const {
    const std::size_t n = size(), H = std::size_t(shape_.kv_heads), D = std::size_t(shape_.head_dim);
    state.put_ints(prefix + "tokens", {std::int64_t(n)});
    std::vector<T> k(n * H * D), v(n * H * D);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t h = 0; h < H; ++h) {
        std::copy_n(store_.key_row(i, h), D, &k[(i * H + h) * D]);
        std::copy_n(store_.value_row(i, h), D, &v[(i * H + h) * D]);
      }
    const std::vector<std::int64_t> dims{std::int64_t(n), std::int64_t(H), std::int64_t(D)};
    state.put_rows(prefix + "k", dims, k.data(), k.size());
    state.put_rows(prefix + "v", dims, v.data(), v.size());
  }
  /// Loads what save_state wrote into this empty sequence; throws naming a missing or wrong array.
  void load_state(const sequence_state& state, const std::string& prefix) {
    detail::require(size() == 0, "load_state: the sequence is not empty");
    const std::size_t n = state.get_counts(prefix + "tokens", {"tokens"}, std::size_t(1) << 40)[0];
    const std::size_t H = std::size_t(shape_.kv_heads), D = std::size_t(shape_.head_dim);
    const std::vector<std::int64_t> dims{std::int64_t(n), std::int64_t(H), std::int64_t(D)};
    const T* k = state.get_rows<T>(prefix + "k", dims);
    const T* v = state.get_rows<T>(prefix + "v", dims);
    store_.append(tensor_view<const T, 3>(k, {n, H, D}), tensor_view<const T, 3>(v, {n, H, D}));
  }

  /// Read access for diagnostics and tests: stored positions [first, last) as segments.
  std::vector<kv_segment<T>> segments(std::size_t first, std::size_t last) const {
    return store_.segments(first, last);
  }

 private:
  layer_shape shape_;
  detail::page_store<T> store_;
};

static_assert(layer_cache_policy<full_cache<float>>);
static_assert(layer_cache_policy<full_cache<bf16>>);
static_assert(layer_cache_policy<full_cache<f16>>);

}  // namespace kvc
