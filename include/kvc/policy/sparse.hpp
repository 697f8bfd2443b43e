// The sparse-offload policy: sinks + recent window resident, everything else on the host, top-k retrieval per decode step.
#pragma once

#include <algorithm>
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
#include "kvc/core/sequence_state.hpp"
#include "kvc/core/step_checks.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/detail/growth.hpp"
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
///
/// Sequences: `empty_like()` and `fork()` make more sequences on the same host pools. A fork
/// shares the host blocks and the channel selector's channel-major blocks (an offload into a
/// shared, partly filled block copies it first), and copies the bounded device tier (sinks,
/// window), max|K| and the page selector's bounds; the gather and prefetch buffers are per-step
/// scratch and start empty. truncate(n) keeps the state a fresh sequence of the same n tokens
/// would have: the window is refilled from the newest kept host tokens (counted host→device),
/// the host tier is cut, max|K| is re-derived from the channel copy and a cut page's bounds from
/// its host rows.
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

  sparse_cache(sparse_cache&&) noexcept = default;
  sparse_cache& operator=(sparse_cache&&) noexcept = default;

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

  /// A step in two halves, for batches (kvc::batch_policy): what a step of q `[n, q_heads,
  /// head_dim]` attends (a decode step selects and gathers now), then storing k, v.
  stored_view<T> begin_step(const dyn_view3& q, const dyn_view3& k, stream s) {
    link_.use(s);
    const std::size_t n = k.extent(0);
    if (n == 0) return {};
    return n == 1 ? select_for_decode(q) : held_for_prefill();
  }
  void end_step(const dyn_view3& k, const dyn_view3& v) {
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
    f.window_bytes = 2 * (options_.sink + options_.window) * row_elems_ * sizeof(T);
    f.device_bytes = f.window_bytes + 2 * gather_cap_ * row_elems_ * sizeof(T) + sel.device_bytes;
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

  // ---- sequences (kvc::sequence_policy) -----------------------------------------------------
  /// A new, empty sequence on the same host pools.
  sparse_cache empty_like() const {
    sparse_cache c(*this);
    c.clear();
    return c;
  }
  /// A sequence sharing the host tier's blocks (see the class comment).
  sparse_cache fork() const { return sparse_cache(*this); }

  /// Keeps the first n tokens, in the state a fresh sequence of those tokens would have.
  void truncate(std::size_t n) {
    if (n >= size_) return;
    last_ = {};
    if (n <= options_.sink) {
      host_.truncate(0);
      std::visit([&](auto& s) { s.truncate(0, host_); }, selector_);
      size_ = n;
      win_head_ = win_count_ = 0;
      return;
    }
    const std::size_t m = n - options_.sink, h = host_.size();     // tokens after the sinks
    const std::size_t keep_window = std::min(m, options_.window), keep_host = m - keep_window;
    std::vector<T> k(keep_window * row_elems_), v(keep_window * row_elems_);
    for (std::size_t i = 0; i < keep_window; ++i) {  // position options_.sink + keep_host + i
      const std::size_t j = keep_host + i;
      for (std::size_t hd = 0; hd < kv_heads_; ++hd) {
        const T* ks = j < h ? host_.key_row(j, hd) : win_k_.get() + ((win_head_ + j - h) % options_.window) * row_elems_ + hd * dim_;
        const T* vs = j < h ? host_.value_row(j, hd) : win_v_.get() + ((win_head_ + j - h) % options_.window) * row_elems_ + hd * dim_;
        if (j < h) {  // back from the host tier
          link_.copy_to_device(&k[i * row_elems_ + hd * dim_], ks, dim_ * sizeof(T));
          link_.copy_to_device(&v[i * row_elems_ + hd * dim_], vs, dim_ * sizeof(T));
        } else {
          std::copy_n(ks, dim_, &k[i * row_elems_ + hd * dim_]);
          std::copy_n(vs, dim_, &v[i * row_elems_ + hd * dim_]);
        }
      }
    }
    std::copy(k.begin(), k.end(), win_k_.get());
    std::copy(v.begin(), v.end(), win_v_.get());
    win_head_ = 0;
    win_count_ = keep_window;
    host_.truncate(keep_host);
    std::visit([&](auto& s) { s.truncate(keep_host, host_); }, selector_);
    size_ = n;
  }

  /// The gather buffer (K and V rows of the top-k host tokens, on the device) that decode steps
  /// allocate once the sequence holds `held` tokens: the host tier holds all but the sinks and
  /// the window, and a step gathers min(topk, host tokens) rows.
  memory_footprint decode_scratch(std::size_t held) const {
    const std::size_t resident = options_.sink + options_.window;
    const std::size_t host = held > resident ? held - resident : 0;
    return {2 * std::min(options_.topk, host) * row_elems_ * sizeof(T), 0, 0, 0};
  }
  /// What appending n tokens would allocate: the gather buffer's growth for a decode step
  /// (`attends`, n = 1), host blocks and selector metadata for the tokens it offloads.
  detail::growth growth(std::size_t n, bool attends = true) const {
    detail::growth g;
    if (n == 0) return g;
    if (attends && n == 1) {
      const std::size_t count = std::min(options_.topk, host_.size());
      if (gather_cap_ < count) {
        const std::size_t cap = std::min(options_.topk, std::max(count, 2 * gather_cap_));
        g.direct.device_bytes += 2 * (cap - gather_cap_) * row_elems_ * sizeof(T);
      }
    }
    const std::size_t to_sinks = size_ < options_.sink ? std::min(n, options_.sink - size_) : 0;
    const std::size_t to_window = n - to_sinks;
    const std::size_t offloads = win_count_ + to_window > options_.window ? win_count_ + to_window - options_.window : 0;
    host_.add_growth(offloads, g);
    std::visit([&](const auto& s) { s.add_growth(offloads, g); }, selector_);
    return g;
  }
  /// Identifies the pools this sequence shares with the others made from it.
  const void* pool_id() const { return &host_.pool(); }
  /// Of footprint(), the pool pages (host blocks, channel copies; shared ones included).
  memory_footprint pooled_footprint() const {
    return memory_footprint{0, host_.allocated_bytes(), 0, 0} +
           std::visit([](const auto& s) { return s.pooled_footprint(); }, selector_);
  }
  /// The pools of every sequence made from this one, counted once.
  memory_footprint pool_footprint() const {
    return host_.pool().footprint(false) + std::visit([](const auto& s) { return s.pool_footprint(); }, selector_);
  }

  /// Saves sinks, window and host rows `[tokens, kv_heads, head_dim]` of T (the selector's
  /// metadata is re-derived from the host rows on load).
  void save_state(sequence_state& state, const std::string& prefix) const {
    const std::size_t H = kv_heads_, D = dim_, nh = host_.size();
    state.put_ints(prefix + "counts", {std::int64_t(sink_count()), std::int64_t(nh), std::int64_t(win_count_)});
    auto dims = [&](std::size_t n) { return std::vector<std::int64_t>{std::int64_t(n), std::int64_t(H), std::int64_t(D)}; };
    state.put_rows(prefix + "sink_k", dims(sink_count()), sink_k_.get(), sink_count() * row_elems_);
    state.put_rows(prefix + "sink_v", dims(sink_count()), sink_v_.get(), sink_count() * row_elems_);
    std::vector<T> k(win_count_ * row_elems_), v(win_count_ * row_elems_);
    for (std::size_t i = 0; i < win_count_; ++i) {
      const std::size_t slot = (win_head_ + i) % options_.window;
      std::copy_n(win_k_.get() + slot * row_elems_, row_elems_, &k[i * row_elems_]);
      std::copy_n(win_v_.get() + slot * row_elems_, row_elems_, &v[i * row_elems_]);
    }
    state.put_rows(prefix + "window_k", dims(win_count_), k.data(), k.size());
    state.put_rows(prefix + "window_v", dims(win_count_), v.data(), v.size());
    k.resize(nh * row_elems_);
    v.resize(nh * row_elems_);
    for (std::size_t j = 0; j < nh; ++j)
      for (std::size_t h = 0; h < H; ++h) {
        std::copy_n(host_.key_row(j, h), D, &k[j * row_elems_ + h * D]);
        std::copy_n(host_.value_row(j, h), D, &v[j * row_elems_ + h * D]);
      }
    state.put_rows(prefix + "host_k", dims(nh), k.data(), k.size());
    state.put_rows(prefix + "host_v", dims(nh), v.data(), v.size());
  }
  /// Loads what save_state wrote into this empty sequence; throws naming a missing, wrong or
  /// inconsistent array. Traffic starts at zero, as for a sequence just built.
  void load_state(const sequence_state& state, const std::string& prefix) {
    detail::require(size_ == 0, "load_state: the sequence is not empty");
    const auto c = state.get_counts(prefix + "counts", {"sinks", "host", "window"}, std::size_t(1) << 40);
    detail::require(c[0] <= options_.sink && c[2] <= options_.window, "sequence state: ", prefix,
                    "counts: sinks ", c[0], " or window ", c[2], " exceed the policy's ", options_.sink, " and ", options_.window);
    detail::require((c[0] == options_.sink || c[1] + c[2] == 0) && (c[1] == 0 || c[2] == options_.window),
                    "sequence state: ", prefix, "counts: sinks ", c[0], ", host ", c[1], ", window ", c[2],
                    " are not a state this policy reaches");
    auto dims = [&](std::size_t n) { return std::vector<std::int64_t>{std::int64_t(n), std::int64_t(kv_heads_), std::int64_t(dim_)}; };
    const T* sk = state.get_rows<T>(prefix + "sink_k", dims(c[0]));
    const T* sv = state.get_rows<T>(prefix + "sink_v", dims(c[0]));
    const T* wk = state.get_rows<T>(prefix + "window_k", dims(c[2]));
    const T* wv = state.get_rows<T>(prefix + "window_v", dims(c[2]));
    const T* hk = state.get_rows<T>(prefix + "host_k", dims(c[1]));
    const T* hv = state.get_rows<T>(prefix + "host_v", dims(c[1]));
    std::copy_n(sk, c[0] * row_elems_, sink_k_.get());
    std::copy_n(sv, c[0] * row_elems_, sink_v_.get());
    for (std::size_t j = 0; j < c[1]; ++j) {
      std::visit([&](auto& s) { s.on_offload(j, hk + j * row_elems_, std::ptrdiff_t(dim_)); }, selector_);
      host_.offload(hk + j * row_elems_, hv + j * row_elems_, std::ptrdiff_t(dim_), link_);
    }
    std::copy_n(wk, c[2] * row_elems_, win_k_.get());
    std::copy_n(wv, c[2] * row_elems_, win_v_.get());
    win_head_ = 0;
    win_count_ = c[2];
    size_ = c[0] + c[1] + c[2];
    link_.reset();
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

  /// Through fork() and empty_like(): host blocks shared, the device tier copied, scratch empty.
  sparse_cache(const sparse_cache& o)
      : shape_(o.shape_), options_(o.options_), kv_heads_(o.kv_heads_), dim_(o.dim_), row_elems_(o.row_elems_),
        win_head_(o.win_head_), win_count_(o.win_count_), host_(o.host_), selector_(o.selector_), size_(o.size_) {
    sink_k_ = std::make_unique_for_overwrite<T[]>(options_.sink * row_elems_);
    sink_v_ = std::make_unique_for_overwrite<T[]>(options_.sink * row_elems_);
    win_k_ = std::make_unique_for_overwrite<T[]>(options_.window * row_elems_);
    win_v_ = std::make_unique_for_overwrite<T[]>(options_.window * row_elems_);
    std::copy_n(o.sink_k_.get(), options_.sink * row_elems_, sink_k_.get());
    std::copy_n(o.sink_v_.get(), options_.sink * row_elems_, sink_v_.get());
    std::copy_n(o.win_k_.get(), options_.window * row_elems_, win_k_.get());
    std::copy_n(o.win_v_.get(), options_.window * row_elems_, win_v_.get());
    stage_.resize(2 * row_elems_);
  }

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
