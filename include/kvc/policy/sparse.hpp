// The sparse-offload policy: sinks + recent window resident, everything else on the host, top-k retrieval per decode step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "kvc/backend/cpu.hpp"
#include "kvc/backend/stored_view.hpp"
#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/step_checks.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/policy/concepts.hpp"
#include "kvc/policy/selectors/channels.hpp"
#include "kvc/policy/selectors/exact.hpp"
#include "kvc/policy/selectors/pages.hpp"
#include "kvc/policy/spec.hpp"
#include "kvc/tier/host_store.hpp"
#include "kvc/tier/tier_link.hpp"

namespace kvc {

/// Token selectors of the sparse-offload policy.
enum class sparse_selector : std::uint8_t { channels, exact, pages };

/// Options of the sparse-offload policy. Spec:
/// `sparse:topk=896,sink=64,window=64,channels=12,selector=channels[,page=16][,dtype=bf16][,device_budget=BYTES]`.
struct sparse_options {
  std::size_t topk = 896;    // host tokens gathered per KV head per decode step (at most)
  std::size_t sink = 64;     // first positions kept resident
  std::size_t window = 64;   // most recent positions kept resident (>= 1)
  std::size_t channels = 12; // d_s, channels scored by the `channels` selector (1..head_dim)
  sparse_selector selector = sparse_selector::channels;
  std::size_t page = 16;     // tokens per page of the `pages` selector
  dtype storage = dtype::bf16;
  std::size_t device_budget = 0;  // device-tier bytes allowed; 0 = unlimited

  static sparse_options from_spec(const policy_spec& spec) {
    detail::require(spec.name == "sparse", "not a sparse policy spec: '", spec.text, "'");
    spec_reader r(spec);
    sparse_options o;
    constexpr long long big = 1ll << 40;
    o.topk = std::size_t(r.integer("topk", 896, 1, big));
    o.sink = std::size_t(r.integer("sink", 64, 0, big));
    o.window = std::size_t(r.integer("window", 64, 1, big));
    o.channels = std::size_t(r.integer("channels", 12, 1, 1 << 20));
    o.page = std::size_t(r.integer("page", 16, 1, 1 << 20));
    o.storage = r.element_type("dtype", dtype::bf16);
    o.device_budget = std::size_t(r.integer("device_budget", 0, 0, 1ll << 60));
    const std::string sel = r.text("selector", "channels");
    if (sel == "channels") o.selector = sparse_selector::channels;
    else if (sel == "exact") o.selector = sparse_selector::exact;
    else if (sel == "pages") o.selector = sparse_selector::pages;
    else detail::fail("policy spec '", spec.text, "': selector must be one of channels, exact, pages, got '", sel, "'");
    r.finish(0);
    return o;
  }

  /// Throws kvc::error naming the option that does not fit `shape`.
  void validate(const layer_shape& shape) const {
    detail::require(topk >= 1, "sparse: topk must be >= 1, got ", topk);
    detail::require(window >= 1, "sparse: window must be >= 1, got ", window);
    detail::require(channels >= 1 && channels <= std::size_t(shape.head_dim), "sparse: channels must be in [1, head_dim = ",
                    shape.head_dim, "], got ", channels);
    detail::require(page >= 1, "sparse: page must be >= 1, got ", page);
  }
};

/// Sparse offload with top-k retrieval, storage type T (float, bf16 or f16).
///
/// Tiers: the device tier holds the first `sink` positions and a ring of the `window` most recent
/// ones (allocated once), the gather buffer for the selected rows (`[kv_heads, topk, head_dim]`
/// keys and values, grown up to topk) and the selector's device metadata. The host tier holds
/// every other token in full precision (token-major, detail::host_kv_store) plus the selector's
/// metadata (channel-major keys, page bounds). A token leaving the window moves to the host
/// (counted device→host); unlike TailorKV, which keeps every generated token resident, generated
/// tokens are offloaded too, so the device footprint stays constant over any generation length.
///
/// Decode (n = 1): per KV head, the selector picks min(topk, host tokens) host tokens for the
/// group's summed query; their rows are gathered (counted host→device) and the step attends
/// exactly over sinks ∪ window ∪ selected ∪ the new token. When topk covers every host token,
/// nothing is scored and all rows are gathered.
///
/// Prefill chunks (n > 1): exact attention over everything held, the host rows read in place
/// (counted host→device), then exact among the new tokens: a chunked prefill loses nothing, and
/// pays the host traffic a GPU build would. Only decode is sparse.
///
/// traffic() per decode step, host tokens h before the step, K = min(topk, h), e = sizeof(T),
/// per KV head: channels: d_s·h·e (channel rows; 0 if K = h or moved to hint time by
/// prefetch_hint) + 2·K·head_dim·e (gathered rows); exact: h·head_dim·e + gathered rows; pages:
/// ceil(h/page)·2·head_dim·4 + gathered rows; plus 2·kv_heads·head_dim·e device→host when the
/// step's token pushes one out of the window.
template <class T>
class sparse_cache {
 public:
  explicit sparse_cache(const layer_shape& shape, const sparse_options& options = {})
      : shape_((shape.validate(), options.validate(shape), shape)), options_(options),
        kv_heads_(std::size_t(shape.kv_heads)), dim_(std::size_t(shape.head_dim)),
        row_elems_(kv_heads_ * dim_), host_(shape), selector_(make_selector(shape, options)) {
    const std::size_t resident = 2 * (options.sink + options.window) * row_elems_ * sizeof(T);
    const std::size_t worst = resident + 2 * options.topk * row_elems_ * sizeof(T) + selector_footprint().device_bytes;
    detail::require(options.device_budget == 0 || worst <= options.device_budget, "sparse: device_budget of ",
                    options.device_budget, " bytes is below the ", worst,
                    " bytes the resident tier, the top-k gather buffer and the selector metadata need");
    sink_k_ = std::make_unique_for_overwrite<T[]>(options.sink * row_elems_);
    sink_v_ = std::make_unique_for_overwrite<T[]>(options.sink * row_elems_);
    win_k_ = std::make_unique_for_overwrite<T[]>(options.window * row_elems_);
    win_v_ = std::make_unique_for_overwrite<T[]>(options.window * row_elems_);
    stage_.resize(2 * row_elems_);
  }

  const layer_shape& shape() const { return shape_; }
  const sparse_options& options() const { return options_; }
  /// Tokens held (resident + host).
  std::size_t size() const { return size_; }
  /// Tokens on the host tier.
  std::size_t host_tokens() const { return host_.size(); }
  /// Tokens on the device tier (sinks + window).
  std::size_t resident_tokens() const { return sink_count() + win_count_; }

  void append(const dyn_view3& k, const dyn_view3& v) {
    check_kv(shape_, k, v);
    store(k, v);
  }

  void append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out, stream s = {}) {
    const std::size_t n = check_step(shape_, q, k, v, out);
    link_.use(s);
    if (n > 0) cpu::attend_step(shape_, n == 1 ? select_for_decode(q) : held_for_prefill(), q, k, v, out, s);
    std::visit([](auto& sel) { sel.end_step(); }, selector_);
    store(k, v);
  }

  /// predicted_q `[1, q_heads, head_dim]`: the query expected at the next step. The channels
  /// selector chooses its channels from it and copies their rows to the device now (counted now);
  /// the next decode step scores them with the real query. Other selectors ignore it. Declined
  /// (the step falls back to reading the host) when the prefetch buffer would exceed device_budget.
  void prefetch_hint(const dyn_view3& predicted_q, stream s = {}) {
    check_query_hint(shape_, predicted_q);
    link_.use(s);
    if (host_.size() <= options_.topk) return;  // the step takes every host token: nothing to score
    detail::scaled_queries(shape_, predicted_q, qs_);
    group_sums(qs_.data());
    // what is held plus the gather buffer's growth still to come (reserved for it)
    const std::size_t used = footprint().device_bytes + 2 * (options_.topk - gather_cap_) * row_elems_ * sizeof(T);
    const std::size_t allowed =
        options_.device_budget == 0 ? std::size_t(-1) : options_.device_budget - std::min(used, options_.device_budget);
    std::visit([&](auto& s) { s.prefetch(qsum_.data(), host_, link_, allowed); }, selector_);
  }

  /// Positions attended by the last step for `kv_head`: sinks, window and the selected host
  /// tokens (decode), or every position held before the step (prefill chunk). Excludes the new tokens.
  std::vector<std::size_t> attended_positions(std::size_t kv_head) const {
    detail::require(kv_head < kv_heads_, "kv_head ", kv_head, " out of range [0, ", kv_heads_, ")");
    std::vector<std::size_t> pos;
    if (last_.dense) {
      for (std::size_t p = 0; p < last_.held; ++p) pos.push_back(p);
      return pos;
    }
    for (std::size_t p = 0; p < last_.sinks; ++p) pos.push_back(p);
    for (std::uint32_t j : last_.selected[kv_head]) pos.push_back(options_.sink + j);
    for (std::size_t p = last_.held - last_.window; p < last_.held; ++p) pos.push_back(p);
    return pos;
  }

  memory_footprint footprint() const {
    const memory_footprint sel = selector_footprint();
    memory_footprint f;
    f.device_bytes = 2 * (options_.sink + options_.window) * row_elems_ * sizeof(T) +
                     2 * gather_cap_ * row_elems_ * sizeof(T) + sel.device_bytes;
    f.host_bytes = host_.allocated_bytes() + sel.host_bytes;
    f.metadata_bytes = sel.metadata_bytes;
    return f;
  }
  transfer_traffic traffic() const { return link_.traffic(); }
  /// Bytes of the buffers as allocated: resident sinks and window, gather buffer, host blocks,
  /// and the selector's copies on either tier.
  std::size_t allocated_bytes() const {
    const std::size_t arrays = (2 * (options_.sink + options_.window) + 2 * gather_cap_) * row_elems_ * sizeof(T);
    const memory_footprint sel = selector_footprint();
    return arrays + host_.allocated_bytes() + sel.device_bytes + sel.host_bytes;
  }

  void clear() {
    host_.clear();
    std::visit([](auto& s) { s.clear(); }, selector_);
    link_.reset();
    size_ = win_head_ = win_count_ = 0;
    last_ = {};
  }

 private:
  static constexpr std::size_t parallel_min_work = std::size_t(1) << 18;  // host elements per head worth threads
  using selector_variant = std::variant<channel_selector<T>, exact_selector<T>, page_selector<T>>;
  static_assert(token_selector<channel_selector<T>, T>);
  static_assert(token_selector<exact_selector<T>, T>);
  static_assert(token_selector<page_selector<T>, T>);

  static selector_variant make_selector(const layer_shape& shape, const sparse_options& o) {
    switch (o.selector) {
      case sparse_selector::exact: return exact_selector<T>(shape);
      case sparse_selector::pages: return page_selector<T>(shape, o.page);
      case sparse_selector::channels: break;
    }
    return channel_selector<T>(shape, o.channels);
  }
  memory_footprint selector_footprint() const {
    return std::visit([](const auto& s) { return s.footprint(); }, selector_);
  }
  std::size_t sink_count() const { return std::min(size_, options_.sink); }

  /// qsum_ `[kv_heads, head_dim]` = Σ over each GQA group of the scaled queries qs `[q_heads, head_dim]`.
  void group_sums(const float* qs) {
    const std::size_t group = std::size_t(shape_.group());
    qsum_.assign(row_elems_, 0.0f);
    for (std::size_t h = 0; h < kv_heads_; ++h)
      for (std::size_t g = 0; g < group; ++g)
        for (std::size_t d = 0; d < dim_; ++d) qsum_[h * dim_ + d] += qs[(h * group + g) * dim_ + d];
  }

  /// Sinks and the window ring (two runs when it wraps) as segments.
  void resident_segments(std::vector<kv_segment<T>>& segs) const {
    const std::ptrdiff_t ts = std::ptrdiff_t(row_elems_), hs = std::ptrdiff_t(dim_);
    if (sink_count() > 0) segs.push_back({{sink_k_.get(), ts, hs}, {sink_v_.get(), ts, hs}, 0, sink_count()});
    const std::size_t first_run = std::min(win_count_, options_.window - win_head_);
    if (first_run > 0)
      segs.push_back({{win_k_.get() + win_head_ * row_elems_, ts, hs}, {win_v_.get() + win_head_ * row_elems_, ts, hs}, 0, first_run});
    if (win_count_ > first_run)
      segs.push_back({{win_k_.get(), ts, hs}, {win_v_.get(), ts, hs}, 0, win_count_ - first_run});
  }

  /// Decode: per KV head, selects up to topk host tokens for q `[1, q_heads, head_dim]`, gathers
  /// their rows to the device tier and describes sinks, window and gathered rows.
  stored_view<T> select_for_decode(const dyn_view3& q) {
    stored_view<T> view;
    resident_segments(view.segments);
    const std::size_t nh = host_.size(), count = std::min(options_.topk, nh);
    last_.dense = false;
    last_.held = size_;
    last_.sinks = sink_count();
    last_.window = win_count_;
    last_.selected.resize(kv_heads_);
    if (count == 0) {
      for (auto& sel : last_.selected) sel.clear();
      return view;
    }
    if (gather_cap_ < count) {  // grows geometrically up to topk, then stays
      gather_cap_ = std::min(options_.topk, std::max(count, 2 * gather_cap_));
      gather_k_ = std::make_unique_for_overwrite<T[]>(gather_cap_ * row_elems_);
      gather_v_ = std::make_unique_for_overwrite<T[]>(gather_cap_ * row_elems_);
    }
    if (count < nh) {
      detail::scaled_queries(shape_, q, qs_);
      group_sums(qs_.data());
    }
#pragma omp parallel for schedule(dynamic, 1) if (nh * dim_ >= parallel_min_work)
    for (std::size_t h = 0; h < kv_heads_; ++h) {
      auto& sel = last_.selected[h];
      sel.resize(count);
      if (count < nh) {
        std::visit([&](auto& s) { s.select(h, &qsum_[h * dim_], host_, count, link_, sel.data()); }, selector_);
      } else {
        for (std::size_t j = 0; j < count; ++j) sel[j] = std::uint32_t(j);
      }
      host_.gather(h, sel, gather_k_.get() + h * gather_cap_ * dim_, gather_v_.get() + h * gather_cap_ * dim_, link_);
    }
    const std::ptrdiff_t hs = std::ptrdiff_t(gather_cap_ * dim_);
    view.segments.push_back({{gather_k_.get(), std::ptrdiff_t(dim_), hs}, {gather_v_.get(), std::ptrdiff_t(dim_), hs}, 0, count});
    return view;
  }

  /// Prefill chunk: every held token, the host rows read in place (counted).
  stored_view<T> held_for_prefill() {
    stored_view<T> view;
    resident_segments(view.segments);
    for (const auto& seg : host_.segments()) {
      for (std::size_t h = 0; h < kv_heads_; ++h) {  // read in place: count it
        link_.read_from_host(seg.k.row(0, h), seg.tokens * dim_);
        link_.read_from_host(seg.v.row(0, h), seg.tokens * dim_);
      }
      view.segments.push_back(seg);
    }
    last_ = {};
    last_.dense = true;
    last_.held = size_;
    return view;
  }

  /// Stores k, v `[n, kv_heads, head_dim]`: sinks first, then through the window ring; a token
  /// pushed out of the ring is offloaded.
  void store(const dyn_view3& k, const dyn_view3& v) {
    const std::size_t n = k.extent(0);
    visit_dtype(k.type, [&](auto tag) {
      using S = decltype(tag);
      const auto kt = k.as<S>();
      const auto vt = v.as<S>();
      for (std::size_t i = 0; i < n; ++i) {
        T* kd;
        T* vd;
        if (size_ < options_.sink) {
          kd = sink_k_.get() + size_ * row_elems_;
          vd = sink_v_.get() + size_ * row_elems_;
        } else {
          if (win_count_ == options_.window) {  // evict the oldest window token to the host
            const T* ko = win_k_.get() + win_head_ * row_elems_;
            const T* vo = win_v_.get() + win_head_ * row_elems_;
            const std::size_t j = host_.size();
            std::visit([&](auto& s) { s.on_offload(j, ko, std::ptrdiff_t(dim_)); }, selector_);
            host_.offload(ko, vo, std::ptrdiff_t(dim_), link_);
            win_head_ = (win_head_ + 1) % options_.window;
            --win_count_;
          }
          const std::size_t slot = (win_head_ + win_count_) % options_.window;
          kd = win_k_.get() + slot * row_elems_;
          vd = win_v_.get() + slot * row_elems_;
          ++win_count_;
        }
        for (std::size_t h = 0; h < kv_heads_; ++h) {
          detail::convert_row(kt.row(i, h), kd + h * dim_, stage_.data(), dim_);
          detail::convert_row(vt.row(i, h), vd + h * dim_, stage_.data(), dim_);
        }
        ++size_;
      }
    });
  }

  struct last_step {
    bool dense = false;
    std::size_t held = 0, sinks = 0, window = 0;
    std::vector<std::vector<std::uint32_t>> selected;  // [kv_heads][K] host indices
  };

  layer_shape shape_;
  sparse_options options_;
  std::size_t kv_heads_, dim_, row_elems_;
  detail::tier_link link_;
  // device tier
  std::unique_ptr<T[]> sink_k_, sink_v_;  // [sink, kv_heads, head_dim]
  std::unique_ptr<T[]> win_k_, win_v_;    // [window, kv_heads, head_dim] ring, oldest at win_head_
  std::size_t win_head_ = 0, win_count_ = 0;
  std::unique_ptr<T[]> gather_k_, gather_v_;  // [kv_heads, gather_cap_, head_dim]
  std::size_t gather_cap_ = 0;
  // host tier
  detail::host_kv_store<T> host_;
  selector_variant selector_;
  std::size_t size_ = 0;
  std::vector<float> qs_;     // [1, q_heads, head_dim] scaled query workspace
  std::vector<float> qsum_;   // [kv_heads, head_dim] workspace
  std::vector<float> stage_;  // conversion workspace
  last_step last_;
};

static_assert(layer_cache_policy<sparse_cache<bf16>>);
static_assert(accepts_prefetch_hint<sparse_cache<bf16>>);
static_assert(reports_attended_positions<sparse_cache<bf16>>);

}  // namespace kvc
