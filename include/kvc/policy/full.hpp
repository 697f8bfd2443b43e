// The full policy: plain keys and values in f32, bf16 or f16; the baseline of every comparison.
#pragma once

#include <cstddef>
#include <span>

#include "kvc/backend/cpu.hpp"
#include "kvc/backend/stored_view.hpp"
#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/step_checks.hpp"
#include "kvc/core/stream.hpp"
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

  /// What a step attends: every page as a segment.
  stored_view<T> stored() const { return {store_.segments(0, store_.size())}; }

  memory_footprint footprint() const { return {store_.allocated_bytes(), 0, 0, store_.reserved_bytes()}; }
  /// Bytes of the page blocks as allocated.
  std::size_t allocated_bytes() const { return store_.allocated_bytes(); }
  transfer_traffic traffic() const { return {}; }
  void clear() { store_.clear(); }

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
