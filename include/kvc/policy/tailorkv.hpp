// The tailorkv policy: a layer that calibrates itself on its first prompt, then becomes quantized or sparse-offload.
#pragma once

#include <cstddef>
#include <cstring>
#include <limits>
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/attention/step.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/detail/any_layer_cache.hpp"
#include "kvc/plan/calibrate.hpp"
#include "kvc/policy/accounting.hpp"
#include "kvc/policy/concepts.hpp"
#include "kvc/policy/spec.hpp"

namespace kvc {

// Defined in kvc/policy/registry.hpp (included at the end of this header).
inline std::unique_ptr<detail::any_layer_cache> make_layer_cache(std::string_view spec_text,
                                                                 const layer_shape& shape);

/// Options of the self-calibrating tailorkv policy. Spec:
/// `tailorkv:calibrate=1[,bits=1|2][,tau=0.2][,setting=long|short][,causal=0|1]`.
///
/// - bits: key/value bits of a quantization-friendly layer (default 2; 1 = TailorKV-1);
/// - tau: threshold in (0, 1) on the dense-preference score P (default 0.2);
/// - setting: sparse-offload setting of a sparsity-friendly layer, `long`
///   (sparse:topk=896,sink=64,window=64,channels=12, default) or `short`
///   (sparse:topk=128,sink=8,window=56,channels=8);
/// - causal: score P with a causal mask (default 0, the official code's unmasked softmax).
///
/// `tailorkv:plan=FILE` is a whole-model plan, not a layer policy: resolve it with
/// kvc::io::resolve_plan (kvc/io/resolve_plan.hpp), which make_layer_cache points to.
struct tailorkv_options {
  tailorkv_calibration_options calibration;

  static tailorkv_options from_spec(const policy_spec& spec) {
    detail::require(spec.name == "tailorkv", "not a tailorkv policy spec: '", spec.text, "'");
    spec_reader r(spec);
    tailorkv_options o;
    const std::string plan = r.text("plan", "");
    detail::require(plan.empty(), "policy spec '", spec.text,
                    "': tailorkv:plan=FILE names a per-layer plan for a whole model; resolve it with "
                    "kvc::io::resolve_plan(spec, num_layers) and build kv_cache from the plan");
    detail::require(r.flag("calibrate", false), "policy spec '", spec.text,
                    "': tailorkv needs calibrate=1 (self-calibrating layer) or plan=FILE (a plan file)");
    o.calibration.bits = int(r.one_of("bits", 2, {1, 2}));
    o.calibration.tau = r.real("tau", tailorkv_tau, 0.0, 1.0);
    detail::require(o.calibration.tau > 0.0 && o.calibration.tau < 1.0, "policy spec '", spec.text,
                    "': tau must be in (0, 1), got ", o.calibration.tau);
    const std::string setting = r.text("setting", "long");
    if (setting == "long") o.calibration.setting = tailorkv_setting::long_context;
    else if (setting == "short") o.calibration.setting = tailorkv_setting::short_context;
    else detail::fail("policy spec '", spec.text, "': setting must be long or short, got '", setting, "'");
    o.calibration.metric.causal = r.flag("causal", false);
    r.finish(0);
    return o;
  }
};

/// One layer of TailorKV that calibrates itself (composition, not a third implementation).
///
/// On the first append_and_attend it scores P with dense_preference_score over that call's
/// queries (the last 32 of them) against every key held so far plus the call's keys, picks
/// `calibration.spec_for(P, head_dim)` (quantized if P > tau, else sparse-offload), builds that policy
/// with make_layer_cache, replays the tokens held so far into it chunk by chunk, exactly as
/// they were appended, and from then on forwards every call to it. Tokens stored with append()
/// before any query are held in a staging area (f32/bf16/f16 as given, counted device-resident)
/// until then; a prompt loaded with append() is thus scored by the first decode query.
/// The choice survives clear() (P is a property of the layer, not of one prompt).
class tailorkv_cache {
 public:
  explicit tailorkv_cache(const layer_shape& shape, const tailorkv_options& options = {})
      : shape_((shape.validate(), options.calibration.validate(), shape)), options_(options) {}

  const layer_shape& shape() const { return shape_; }
  const tailorkv_options& options() const { return options_; }
  /// True once the layer has chosen its policy.
  bool calibrated() const { return sub_ != nullptr; }
  /// The chosen policy's spec (empty before calibration).
  const std::string& chosen_spec() const { return chosen_; }
  /// The dense-preference score P the choice was made on (NaN before calibration).
  double score() const { return score_; }
  /// The chosen layer cache (nullptr before calibration).
  detail::any_layer_cache* chosen() { return sub_.get(); }
  const detail::any_layer_cache* chosen() const { return sub_.get(); }

  std::size_t size() const { return sub_ ? sub_->size() : staged_tokens_; }

  void append(const dyn_view3& k, const dyn_view3& v) {
    if (sub_) return sub_->append(k, v);
    const std::size_t n = detail::check_kv(shape_, k, v);
    if (n == 0) return;
    staged_.push_back({owned_rows(k), owned_rows(v)});
    staged_tokens_ += n;
  }

  void append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out) {
    if (!sub_) {
      const std::size_t n = detail::check_step(shape_, q, k, v, out);
      if (n == 0) return;
      calibrate(q, k);
    }
    held_before_step_ = sub_->size();
    sub_->append_and_attend(q, k, v, out);
  }

  /// Forwarded to the chosen policy; ignored before calibration.
  void prefetch_hint(const dyn_view3& predicted_q) {
    if (sub_) sub_->prefetch_hint(predicted_q);
  }

  /// The chosen policy's attended positions for the last step, or, when it attends all it
  /// holds, every position held before the step (empty before calibration).
  std::vector<std::size_t> attended_positions(std::size_t kv_head) const {
    detail::require(kv_head < std::size_t(shape_.kv_heads), "kv_head ", kv_head, " out of range [0, ",
                    shape_.kv_heads, ")");
    std::vector<std::size_t> pos;
    if (sub_ && sub_->attended_positions(kv_head, pos)) return pos;
    pos.resize(held_before_step_);  // everything held before the last step's new tokens
    for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = i;
    return pos;
  }

  memory_footprint footprint() const {
    if (sub_) return sub_->footprint();
    memory_footprint f;
    for (const auto& c : staged_) f.device_bytes += c.k.bytes.size() + c.v.bytes.size();
    return f;
  }
  transfer_traffic traffic() const { return sub_ ? sub_->traffic() : transfer_traffic{}; }

  void clear() {
    staged_.clear();
    staged_tokens_ = held_before_step_ = 0;
    if (sub_) sub_->clear();
  }

 private:
  /// A contiguous copy of a `[n, heads, head_dim]` view in its own dtype.
  struct owned_rows {
    dtype type = dtype::f32;
    std::array<std::size_t, 3> shape{};
    std::vector<unsigned char> bytes;

    owned_rows() = default;
    explicit owned_rows(const dyn_view3& x) : type(x.type), shape(x.shape) {
      const std::size_t row = shape[2] * dtype_size(type);
      bytes.resize(shape[0] * shape[1] * row);
      for (std::size_t i = 0; i < shape[0]; ++i)
        for (std::size_t h = 0; h < shape[1]; ++h)
          std::memcpy(&bytes[(i * shape[1] + h) * row],
                      static_cast<const unsigned char*>(x.data) +
                          (std::ptrdiff_t(i) * x.strides[0] + std::ptrdiff_t(h) * x.strides[1]) *
                              std::ptrdiff_t(dtype_size(type)),
                      row);
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

  void calibrate(const dyn_view3& q, const dyn_view3& k) {
    if (staged_.empty()) {
      score_ = dense_preference_score(q, k, shape_, options_.calibration.metric);
    } else {
      // Every key held so far plus the call's, as f32 `[keys, kv_heads, head_dim]`.
      const std::size_t row = std::size_t(shape_.kv_heads) * std::size_t(shape_.head_dim);
      std::vector<float> all((staged_tokens_ + k.extent(0)) * row);
      std::size_t t = 0;
      const auto add = [&](const dyn_view3& x) {
        for (std::size_t i = 0; i < x.extent(0); ++i, ++t)
          for (std::size_t h = 0; h < x.extent(1); ++h)
            detail::to_f32_row(static_cast<const unsigned char*>(x.data) +
                                   (std::ptrdiff_t(i) * x.strides[0] + std::ptrdiff_t(h) * x.strides[1]) *
                                       std::ptrdiff_t(dtype_size(x.type)),
                               x.type, &all[t * row + h * std::size_t(shape_.head_dim)], std::size_t(shape_.head_dim));
      };
      for (const auto& c : staged_) add(c.k.view());
      add(k);
      const tensor_view<const float, 3> keys(all.data(), {t, std::size_t(shape_.kv_heads), std::size_t(shape_.head_dim)});
      score_ = dense_preference_score(q, keys, shape_, options_.calibration.metric);
    }
    chosen_ = options_.calibration.spec_for(score_, shape_.head_dim);
    sub_ = make_layer_cache(chosen_, shape_);
    for (const auto& c : staged_) sub_->append(c.k.view(), c.v.view());
    staged_.clear();
    staged_.shrink_to_fit();
    staged_tokens_ = 0;
  }

  layer_shape shape_;
  tailorkv_options options_;
  std::vector<staged_chunk> staged_;
  std::size_t staged_tokens_ = 0;
  std::size_t held_before_step_ = 0;
  std::unique_ptr<detail::any_layer_cache> sub_;
  std::string chosen_;
  double score_ = std::numeric_limits<double>::quiet_NaN();
};

static_assert(layer_cache_policy<tailorkv_cache>);
static_assert(accepts_prefetch_hint<tailorkv_cache>);
static_assert(reports_attended_positions<tailorkv_cache>);

}  // namespace kvc

#include "kvc/policy/registry.hpp"  // NOLINT: defines make_layer_cache, declared above
