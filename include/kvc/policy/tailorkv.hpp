// The tailorkv policy: a layer that calibrates itself on its first prompt, then becomes a quant or a sparse cache.
#pragma once

#include <cstddef>
#include <cstring>
#include <limits>
#include <algorithm>
#include <array>
#include <type_traits>
#include <string>
#include <variant>
#include <vector>

#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/sequence_state.hpp"
#include "kvc/core/step_checks.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/plan/calibrate.hpp"
#include "kvc/policy/concepts.hpp"
#include "kvc/policy/quant.hpp"
#include "kvc/policy/sparse.hpp"
#include "kvc/policy/spec.hpp"

namespace kvc {

/// Options of the self-calibrating tailorkv policy. Spec:
/// `tailorkv:calibrate=1[,bits=1|2][,tau=0.2][,setting=long|short][,causal=0|1][,dtype=bf16]`.
///
/// - bits: key/value bits of a quantization-friendly layer (default 2; 1 = TailorKV-1);
/// - tau: threshold in (0, 1) on the dense-preference score P (default 0.2);
/// - setting: sparse-offload setting of a sparsity-friendly layer, `long`
///   (sparse:topk=896,sink=64,window=64,channels=12, default) or `short`
///   (sparse:topk=128,sink=8,window=56,channels=8);
/// - causal: score P with a causal mask (default 0, the official code's unmasked softmax);
/// - dtype: element type of the chosen policy's exact rows, f32, bf16 or f16 (default bf16).
///
/// A whole-model plan from a file is its own spec kind, `plan:FILE`, resolved by
/// kvc::io::resolve_plan wherever specs are read.
struct tailorkv_options {
  tailorkv_calibration_options calibration;
  dtype storage = dtype::bf16;

  static tailorkv_options from_spec(const policy_spec& spec) {
    detail::require(spec.name == "tailorkv", "not a tailorkv policy spec: '", spec.text, "'");
    spec_reader r(spec);
    tailorkv_options o;
    detail::require(r.text("plan", "").empty(), "policy spec '", spec.text,
                    "': a plan file is its own spec kind now: write plan:FILE");
    detail::require(r.flag("calibrate", false), "policy spec '", spec.text,
                    "': tailorkv needs calibrate=1 (a self-calibrating layer); for a plan file write plan:FILE");
    o.calibration.bits = int(r.one_of("bits", 2, {1, 2}));
    o.calibration.tau = r.real("tau", tailorkv_tau, 0.0, 1.0);
    detail::require(o.calibration.tau > 0.0 && o.calibration.tau < 1.0, "policy spec '", spec.text,
                    "': tau must be in (0, 1), got ", o.calibration.tau);
    const std::string setting = r.text("setting", "long");
    if (setting == "long") o.calibration.setting = tailorkv_setting::long_context;
    else if (setting == "short") o.calibration.setting = tailorkv_setting::short_context;
    else detail::fail("policy spec '", spec.text, "': setting must be long or short, got '", setting, "'");
    o.calibration.metric.causal = r.flag("causal", false);
    o.storage = r.element_type("dtype", dtype::bf16);
    r.finish(0);
    return o;
  }

  /// The options of a quantization-friendly layer of `shape`.
  quant_options quant_for(const layer_shape& shape) const {
    const tailorkv_quant_numbers q = calibration.quant_numbers(shape.head_dim);
    quant_options o;
    o.key_bits = o.value_bits = q.bits;
    o.group = q.group;
    o.residual = q.residual;
    o.storage = storage;
    return o;
  }
  /// The options of a sparsity-friendly layer.
  sparse_options sparse_for() const {
    const tailorkv_sparse_numbers s = calibration.sparse_numbers();
    sparse_options o;
    o.topk = s.topk;
    o.sink = s.sink;
    o.window = s.window;
    o.channels = s.channels;
    o.storage = storage;
    return o;
  }
};

/// One layer of TailorKV that calibrates itself: composition of the two concrete caches, not a
/// third implementation. T is the storage type of the chosen cache's exact rows.
///
/// On the first append_and_attend it scores P with dense_preference_score over that call's
/// queries (the last 32 of them) against every key held so far plus the call's keys, builds a
/// quant_cache<T> (P > tau) or a sparse_cache<T> from the options above, replays the tokens held so
/// far into it chunk by chunk, exactly as they were appended, and from then on forwards every
/// call to it. Tokens stored with append() before any query are held in a staging area
/// (f32/bf16/f16 as given, counted device-resident) until then; a prompt loaded with append()
/// is thus scored by the first decode query. The choice survives clear() (P is a property of
/// the layer, not of one prompt).
template <class T>
class tailorkv_cache {
 public:
  using quant_type = quant_cache<T>;
  using sparse_type = sparse_cache<T>;

  explicit tailorkv_cache(const layer_shape& shape, const tailorkv_options& options = {})
      : shape_((shape.validate(), options.calibration.validate(), shape)), options_(options) {}

  const layer_shape& shape() const { return shape_; }
  const tailorkv_options& options() const { return options_; }
  /// True once the layer has chosen its policy.
  bool calibrated() const { return !std::holds_alternative<std::monostate>(chosen_); }
  /// The chosen policy as a spec (empty before calibration): what a plan file would say.
  const std::string& chosen_spec() const { return chosen_spec_; }
  /// The dense-preference score P the choice was made on (NaN before calibration).
  double score() const { return score_; }
  /// The chosen cache if it is a P (quant_type or sparse_type), else nullptr.
  template <class P>
  const P* chosen_as() const {
    return std::get_if<P>(&chosen_);
  }

  std::size_t size() const {
    return visit_chosen([](const auto& c) { return c.size(); }, [&] { return staged_tokens_; });
  }

  void append(const dyn_view3& k, const dyn_view3& v) {
    if (calibrated()) return visit_chosen([&](auto& c) { c.append(k, v); }, [] {});
    const std::size_t n = check_kv(shape_, k, v);
    if (n == 0) return;
    staged_.push_back({owned_rows(k), owned_rows(v)});
    staged_tokens_ += n;
  }

  void append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out, stream s = {}) {
    if (!calibrated()) {
      const std::size_t n = check_step(shape_, q, k, v, out);
      if (n == 0) return;
      calibrate(q, k);
    }
    held_before_step_ = size();
    visit_chosen([&](auto& c) { c.append_and_attend(q, k, v, out, s); }, [] {});
  }

  /// A step in two halves, for batches (kvc::batch_policy); the first step calibrates the layer.
  stored_view<T> begin_step(const dyn_view3& q, const dyn_view3& k, stream s) {
    if (!calibrated()) {
      if (k.extent(0) == 0) return {};
      calibrate(q, k);
    }
    held_before_step_ = size();
    return visit_chosen([&](auto& c) { return c.begin_step(q, k, s); }, [] { return stored_view<T>{}; });
  }
  void end_step(const dyn_view3& k, const dyn_view3& v) {
    visit_chosen([&](auto& c) { c.end_step(k, v); }, [] {});
  }

  /// Forwarded to a chosen sparse cache; ignored otherwise (quant caches have no use for it).
  void prefetch_hint(const dyn_view3& predicted_q, stream s = {}) {
    if (auto* sparse = std::get_if<sparse_type>(&chosen_)) sparse->prefetch_hint(predicted_q, s);
  }

  /// The chosen sparse cache's attended positions for the last step, or, when the layer attends
  /// all it holds, every position held before the step (empty before calibration).
  std::vector<std::size_t> attended_positions(std::size_t kv_head) const {
    detail::require(kv_head < std::size_t(shape_.kv_heads), "kv_head ", kv_head, " out of range [0, ",
                    shape_.kv_heads, ")");
    if (const auto* sparse = std::get_if<sparse_type>(&chosen_)) return sparse->attended_positions(kv_head);
    std::vector<std::size_t> pos(held_before_step_);  // everything held before the last step's new tokens
    for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = i;
    return pos;
  }

  memory_footprint footprint() const {
    return visit_chosen([](const auto& c) { return c.footprint(); }, [&] {
      memory_footprint f;
      f.device_bytes = staged_bytes();
      return f;
    });
  }
  transfer_traffic traffic() const {
    return visit_chosen([](const auto& c) { return c.traffic(); }, [] { return transfer_traffic{}; });
  }
  std::size_t allocated_bytes() const {
    return visit_chosen([](const auto& c) { return c.allocated_bytes(); }, [&] { return staged_bytes(); });
  }

  void clear() {
    staged_.clear();
    staged_tokens_ = held_before_step_ = 0;
    visit_chosen([](auto& c) { c.clear(); }, [] {});
  }

  // ---- sequences (kvc::sequence_policy) -----------------------------------------------------
  // A calibrated layer's sequences share its choice and its pools; a sequence made before the
  // layer calibrated calibrates itself on its own first prompt.

  /// A new, empty sequence (the chosen policy's empty_like once calibrated).
  tailorkv_cache empty_like() const {
    tailorkv_cache c(shape_, options_);
    c.chosen_spec_ = chosen_spec_;
    c.score_ = score_;
    visit_chosen([&](const auto& p) { c.chosen_.template emplace<std::decay_t<decltype(p)>>(p.empty_like()); }, [] {});
    return c;
  }
  /// A sequence sharing this one's stored tokens (the chosen policy's fork; staged rows copied).
  tailorkv_cache fork() const {
    tailorkv_cache c = empty_like();
    c.staged_ = staged_;
    c.staged_tokens_ = staged_tokens_;
    visit_chosen([&](const auto& p) { c.chosen_.template emplace<std::decay_t<decltype(p)>>(p.fork()); }, [] {});
    return c;
  }
  /// Keeps the first n tokens (the chosen policy's truncate; staged rows cut before calibration).
  void truncate(std::size_t n) {
    if (calibrated()) return visit_chosen([&](auto& c) { c.truncate(n); }, [] {});
    std::size_t kept = 0;
    for (std::size_t i = 0; i < staged_.size(); ++i) {
      const std::size_t rows = staged_[i].k.shape[0];
      if (kept + rows > n) {
        staged_[i].k.cut(n - kept);
        staged_[i].v.cut(n - kept);
        staged_.resize(n - kept > 0 ? i + 1 : i);
        break;
      }
      kept += rows;
    }
    staged_tokens_ = std::min(staged_tokens_, n);
  }
  /// What appending n tokens would allocate. Before calibration an upper bound: staged rows at 4
  /// bytes an element, or, for a step that calibrates, the larger of what either choice would
  /// hold for everything staged plus the step.
  detail::growth growth(std::size_t n, bool attends = true) const {
    if (calibrated()) return visit_chosen([&](const auto& c) { return c.growth(n, attends); }, [] { return detail::growth{}; });
    detail::growth g;
    if (n == 0) return g;
    if (!attends) {
      g.direct.device_bytes = 2 * n * std::size_t(shape_.kv_heads) * std::size_t(shape_.head_dim) * sizeof(float);
      return g;
    }
    const memory_footprint q = quant_type(shape_, options_.quant_for(shape_)).growth(staged_tokens_ + n, true).bytes();
    const memory_footprint s = sparse_type(shape_, options_.sparse_for()).growth(staged_tokens_ + n, false).bytes();
    g.direct.device_bytes = std::max(q.device_bytes, s.device_bytes + 2 * options_.sparse_for().topk *
                                                                          std::size_t(shape_.kv_heads) * std::size_t(shape_.head_dim) * sizeof(T));
    g.direct.host_bytes = std::max(q.host_bytes, s.host_bytes);
    g.direct.device_bytes -= std::min(g.direct.device_bytes, staged_bytes());  // the staged rows are freed
    return g;
  }
  /// The chosen policy's decode scratch; before calibration the sparse choice's (the larger).
  memory_footprint decode_scratch(std::size_t held) const {
    return visit_chosen(
        [&](const auto& c) -> memory_footprint {
          if constexpr (std::is_same_v<std::decay_t<decltype(c)>, sparse_type>) return c.decode_scratch(held);
          else return {};
        },
                        [&] { return sparse_type(shape_, options_.sparse_for()).decode_scratch(held); });
  }
  /// The chosen policy's pools (nullptr before calibration: none yet).
  const void* pool_id() const {
    return visit_chosen([](const auto& c) { return c.pool_id(); }, [] { return static_cast<const void*>(nullptr); });
  }
  memory_footprint pooled_footprint() const {
    return visit_chosen([](const auto& c) { return c.pooled_footprint(); }, [] { return memory_footprint{}; });
  }
  memory_footprint pool_footprint() const {
    return visit_chosen([](const auto& c) { return c.pool_footprint(); }, [] { return memory_footprint{}; });
  }
  /// Saves the choice (0 none, 1 quant, 2 sparse) and the chosen policy's state; a layer still
  /// staging its first prompt cannot be saved (kvc::error).
  void save_state(sequence_state& state, const std::string& prefix) const {
    detail::require(calibrated() || staged_tokens_ == 0, "save_state: a tailorkv layer holding its first prompt before "
                    "calibration cannot be saved");
    const std::int64_t choice = std::holds_alternative<quant_type>(chosen_) ? 1 : calibrated() ? 2 : 0;
    state.put_ints(prefix + "choice", {choice});
    visit_chosen([&](const auto& c) { c.save_state(state, prefix); }, [] {});
  }
  /// Loads what save_state wrote into this empty sequence (the saved choice is taken).
  void load_state(const sequence_state& state, const std::string& prefix) {
    detail::require(size() == 0, "load_state: the sequence is not empty");
    const std::size_t choice = state.get_counts(prefix + "choice", {"choice"}, 2)[0];
    if (choice == 0) return;
    const bool quant = choice == 1;
    detail::require(!calibrated() || quant == std::holds_alternative<quant_type>(chosen_), "sequence state: ", prefix,
                    "choice (", quant ? "quant" : "sparse", ") differs from this layer's");
    if (!calibrated()) {
      if (quant) chosen_.template emplace<quant_type>(shape_, options_.quant_for(shape_));
      else chosen_.template emplace<sparse_type>(shape_, options_.sparse_for());
    }
    visit_chosen([&](auto& c) { c.load_state(state, prefix); }, [] {});
  }

 private:
  /// fn(chosen cache) once calibrated, else before().
  template <class Fn, class Before>
  decltype(auto) visit_chosen(Fn&& fn, Before&& before) {
    if (auto* c = std::get_if<quant_type>(&chosen_)) return fn(*c);
    if (auto* c = std::get_if<sparse_type>(&chosen_)) return fn(*c);
    return before();
  }
  template <class Fn, class Before>
  decltype(auto) visit_chosen(Fn&& fn, Before&& before) const {
    if (const auto* c = std::get_if<quant_type>(&chosen_)) return fn(*c);
    if (const auto* c = std::get_if<sparse_type>(&chosen_)) return fn(*c);
    return before();
  }

  /// A contiguous copy of a `[n, heads, head_dim]` view in its own dtype.
  struct owned_rows {
    dtype type = dtype::f32;
    std::array<std::size_t, 3> shape{};
    std::vector<unsigned char> bytes;

    owned_rows() = default;
    explicit owned_rows(const dyn_view3& x) : type(x.type), shape(x.shape) {
      const std::size_t row = x.row_bytes();
      bytes.resize(shape[0] * shape[1] * row);
      for (std::size_t i = 0; i < shape[0]; ++i)
        for (std::size_t h = 0; h < shape[1]; ++h) std::memcpy(&bytes[(i * shape[1] + h) * row], x.row_ptr(i, h), row);
    }
    /// Keeps the first n rows.
    void cut(std::size_t n) {
      shape[0] = n;
      bytes.resize(n * shape[1] * shape[2] * dtype_size(type));
    }
    dyn_view3 view() const {
      dyn_view3 d;
      d.data = bytes.data();
      d.type = type;
      d.shape = shape;
      d.strides = {std::ptrdiff_t(shape[1] * shape[2]), std::ptrdiff_t(shape[2]), 1};
      return d;
    }
  };
  struct staged_chunk {
    owned_rows k, v;
  };
  std::size_t staged_bytes() const {
    std::size_t b = 0;
    for (const auto& c : staged_) b += c.k.bytes.size() + c.v.bytes.size();
    return b;
  }

  void calibrate(const dyn_view3& q, const dyn_view3& k) {
    if (staged_.empty()) {
      score_ = dense_preference_score(q, k, shape_, options_.calibration.metric);
    } else {
      // Every key held so far plus the call's, as f32 `[keys, kv_heads, head_dim]`.
      const std::size_t D = std::size_t(shape_.head_dim), row = std::size_t(shape_.kv_heads) * D;
      std::vector<float> all((staged_tokens_ + k.extent(0)) * row);
      std::size_t t = 0;
      const auto add = [&](const dyn_view3& x) {
        for (std::size_t i = 0; i < x.extent(0); ++i, ++t)
          for (std::size_t h = 0; h < x.extent(1); ++h) detail::to_f32_row(x.row_ptr(i, h), x.type, &all[t * row + h * D], D);
      };
      for (const auto& c : staged_) add(c.k.view());
      add(k);
      const tensor_view<const float, 3> keys(all.data(), {t, std::size_t(shape_.kv_heads), D});
      score_ = dense_preference_score(q, keys, shape_, options_.calibration.metric);
    }
    const auto& cal = options_.calibration;
    chosen_spec_ = cal.spec_for(score_, shape_.head_dim);
    if (options_.storage != dtype::bf16) chosen_spec_ += ",dtype=" + std::string(dtype_name(options_.storage));
    if (cal.quantizes(score_)) chosen_.template emplace<quant_type>(shape_, options_.quant_for(shape_));
    else chosen_.template emplace<sparse_type>(shape_, options_.sparse_for());
    for (const auto& c : staged_) append(c.k.view(), c.v.view());
    staged_.clear();
    staged_.shrink_to_fit();
    staged_tokens_ = 0;
  }

  layer_shape shape_;
  tailorkv_options options_;
  std::vector<staged_chunk> staged_;
  std::size_t staged_tokens_ = 0;
  std::size_t held_before_step_ = 0;
  std::variant<std::monostate, quant_type, sparse_type> chosen_;
  std::string chosen_spec_;
  double score_ = std::numeric_limits<double>::quiet_NaN();
};

static_assert(layer_cache_policy<tailorkv_cache<bf16>>);
static_assert(accepts_stream<tailorkv_cache<bf16>>);
static_assert(accepts_prefetch_hint<tailorkv_cache<bf16>>);
static_assert(reports_attended_positions<tailorkv_cache<bf16>>);

}  // namespace kvc
