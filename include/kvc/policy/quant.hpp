// The quantized policy (KIVI family): 1/2/4/8-bit keys per channel and values per token, a
// full-precision residual window, optional exact sinks and Hadamard-rotated keys; attention
// runs on the packed blocks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <initializer_list>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "kvc/backend/cpu.hpp"
#include "kvc/backend/stored_view.hpp"
#include "kvc/core/accounting.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/sequence_state.hpp"
#include "kvc/core/step_checks.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/detail/convert_row.hpp"
#include "kvc/detail/growth.hpp"
#include "kvc/detail/page_pool.hpp"
#include "kvc/policy/concepts.hpp"
#include "kvc/policy/spec.hpp"
#include "kvc/quant/block_span.hpp"
#include "kvc/quant/codec.hpp"
#include "kvc/quant/hadamard.hpp"
#include "kvc/quant/layout.hpp"

namespace kvc {

/// Options of the quantized policy. Spec:
/// `quant:k=2,v=2,group=64,residual=128[,sink=N][,rotate=1][,dtype=bf16]`.
///
/// - k, v: key and value bits, one of {1, 2, 4, 8} (default 2 and 2);
/// - group: G, tokens per key group = channels per value group; a multiple of 8 dividing
///   head_dim (default 64);
/// - residual: R, recent tokens always kept in full precision; R >= G and a multiple of G
///   (default 128);
/// - sink: the first N tokens of the sequence kept in full precision for good (default 0);
/// - rotate: quantize keys after a normalised Walsh-Hadamard rotation, the query rotated to
///   match; needs a power-of-two head_dim (default 0);
/// - dtype: element type of the residual window and sinks, f32, bf16 or f16 (default bf16).
///
/// Flush rule: the residual holds between R and R + G - 1 tokens (fewer only early on). When
/// it reaches R + G, its oldest G tokens are quantized together, keys (one group per channel)
/// and values (per token) alike, and leave it. KIVI/TailorKV flush keys in blocks of R and
/// quantize values one token at a time; flushing both in blocks of G keeps every quantized
/// token's key and value in the same block (one fused kernel, no mixed tokens) and keeps at
/// least R exact recent tokens at all times, at the cost of up to G - 1 extra exact tokens.
struct quant_options {
  int key_bits = 2;
  int value_bits = 2;
  std::size_t group = 64;
  std::size_t residual = 128;
  std::size_t sink = 0;
  bool rotate = false;
  dtype storage = dtype::bf16;

  static quant_options from_spec(const policy_spec& spec) {
    detail::require(spec.name == "quant", "not a quant policy spec: '", spec.text, "'");
    spec_reader r(spec);
    quant_options o;
    o.key_bits = int(r.one_of("k", 2, {1, 2, 4, 8}));
    o.value_bits = int(r.one_of("v", 2, {1, 2, 4, 8}));
    o.group = std::size_t(r.integer("group", 64, 8, 1 << 16));
    o.residual = std::size_t(r.integer("residual", 128, 8, 1 << 24));
    o.sink = std::size_t(r.integer("sink", 0, 0, 1 << 24));
    o.rotate = r.flag("rotate", false);
    o.storage = r.element_type("dtype", dtype::bf16);
    r.finish(0);
    try {
      o.validate();
    } catch (const kvc::error& e) {
      detail::fail("policy spec '", spec.text, "': ", e.what());
    }
    return o;
  }

  /// Checks the options that do not depend on the layer shape; throws naming the option.
  void validate() const {
    quant::check_bits(key_bits, "k (key bits)");
    quant::check_bits(value_bits, "v (value bits)");
    detail::require(group >= 8 && group % 8 == 0, "group must be a positive multiple of 8, got ", group);
    detail::require(residual >= group && residual % group == 0, "residual (", residual,
                    ") must be >= group (", group, ") and a multiple of it");
  }
};

/// KIVI-style quantized KV of one layer; residual window and sinks stored as T (float, bf16,
/// f16). Everything is device-resident; footprint() counts the block chunks as allocated
/// (codes + f16 scales and mins + the unused tail of the last chunk; the scales and mins of the
/// blocks held are also reported in metadata_bytes), the residual ring (allocated at R + G
/// tokens) and the sink buffer.
///
/// Sequences: `empty_like()` and `fork()` make more sequences on the same chunk pool. A fork
/// shares the packed chunks (a new block written into a shared, partly filled chunk copies it
/// first) and copies the residual window and sinks, at most R + G + sink rows whatever the length.
/// truncate(n): cut inside the residual window, the newest rows go; cut inside a quantized block,
/// the blocks after it are released and the kept tokens of the cut block return to the residual
/// window as their dequantized values (keys rotated back when rotate=1), what attention read of
/// them, so no code of a dropped token is ever read again; they are quantized anew when the
/// window next flushes. Cut inside the sinks, everything after goes.
template <class T>
class quant_cache {
 public:
  explicit quant_cache(const layer_shape& shape, const quant_options& options = {})
      : shape_((shape.validate(), shape)), options_(options),
        layout_{options.key_bits, options.value_bits, options.group, std::size_t(shape.head_dim),
                std::size_t(shape.kv_heads)},
        chunks_(std::make_shared<detail::page_pool>(std::max<std::size_t>(1, chunk_tokens / options.group) *
                                                        layout_.block_bytes(), 1)) {
    options_.validate();
    layout_.validate();
    detail::require(!options_.rotate || quant::is_power_of_two(std::size_t(shape.head_dim)),
                    "rotate=1 needs a power-of-two head_dim, got ", shape.head_dim);
  }

  quant_cache(quant_cache&&) noexcept = default;
  quant_cache& operator=(quant_cache&&) noexcept = default;

  const layer_shape& shape() const { return shape_; }
  const quant_options& options() const { return options_; }
  const quant::block_layout& layout() const { return layout_; }
  std::size_t size() const { return sink_n_ + blocks_ * options_.group + ring_n_; }

  /// Quantized blocks are allocated in chunks of about this many tokens (at least one block),
  /// [kv_heads][blocks per chunk][head slice], so each head's data streams; the unused part of
  /// the last chunk is capacity slack, counted in footprint().
  static constexpr std::size_t chunk_tokens = 1024;
  std::size_t blocks_per_chunk() const { return std::max<std::size_t>(1, chunk_tokens / options_.group); }

  void append(const dyn_view3& k, const dyn_view3& v) {
    check_kv(shape_, k, v);
    store(k, v);
  }

  void append_and_attend(const dyn_view3& q, const dyn_view3& k, const dyn_view3& v,
                         const tensor_view<float, 3>& out, stream s = {}) {
    cpu::attend_step(shape_, stored(), q, k, v, out, s);
    store(k, v);
  }

  /// A step in two halves, for batches (kvc::batch_policy): what it attends, then storing k, v.
  stored_view<T> begin_step(const dyn_view3&, const dyn_view3&, stream) { return stored(); }
  void end_step(const dyn_view3& k, const dyn_view3& v) { store(k, v); }

  /// What a step attends: the packed blocks (keys rotated when rotate=1), sinks and residual window.
  stored_view<T> stored() const { return {exact_segments(), blocks(), options_.rotate}; }

  memory_footprint footprint() const {
    const std::size_t D = std::size_t(shape_.head_dim), H = std::size_t(shape_.kv_heads);
    std::size_t window = 0;
    if (!k_ring_.empty()) window += 2 * H * ring_capacity() * D * sizeof(T);
    if (!k_sink_.empty()) window += 2 * H * options_.sink * D * sizeof(T);
    memory_footprint f{chunks_.bytes() + window, 0, blocks_ * layout_.metadata_bytes()};
    f.window_bytes = window;
    return f;
  }
  transfer_traffic traffic() const { return {}; }
  void clear() {
    // swap with empty containers so the memory is released, not just the size reset
    chunks_.resize(0);
    std::vector<const std::uint8_t*>().swap(chunk_ptrs_);
    blocks_ = 0;
    for (auto* buf : {&k_ring_, &v_ring_, &k_sink_, &v_sink_}) std::vector<T>().swap(*buf);
    sink_n_ = ring_head_ = ring_n_ = 0;
  }

  // ---- sequences (kvc::sequence_policy) -----------------------------------------------------
  /// A new, empty sequence on the same chunk pool.
  quant_cache empty_like() const {
    quant_cache c(*this);
    c.clear();
    return c;
  }
  /// A sequence sharing the packed chunks, with copies of the residual window and sinks.
  quant_cache fork() const { return quant_cache(*this); }

  /// Keeps the first n tokens (see the class comment for what a cut block becomes).
  void truncate(std::size_t n) {
    if (n >= size()) return;
    const std::size_t G = options_.group, q_end = sink_n_ + quantized_tokens();
    if (n >= q_end) {  // inside the residual window
      ring_n_ = n - q_end;
      return;
    }
    if (n <= sink_n_) {  // inside the sinks
      sink_n_ = n;
      release_blocks_from(0);
      ring_head_ = ring_n_ = 0;
      return;
    }
    const std::size_t keep = (n - sink_n_) / G, rest = (n - sink_n_) - keep * G;
    if (rest > 0) requantize_later(keep, rest);
    ring_head_ = 0;
    ring_n_ = rest;
    release_blocks_from(keep);
  }

  /// What appending n tokens would allocate: the residual ring and sinks on the first append,
  /// and chunk pages for the blocks it flushes (plus a copy of a shared chunk it writes into);
  /// metadata_bytes grows by the flushed blocks' scales and mins (held in those chunks).
  detail::growth growth(std::size_t n, bool = true) const {
    detail::growth g;
    if (n == 0) return g;
    const std::size_t D = std::size_t(shape_.head_dim), H = std::size_t(shape_.kv_heads);
    std::size_t window = 0;
    if (k_ring_.empty()) window += 2 * H * ring_capacity() * D * sizeof(T);
    if (options_.sink > 0 && k_sink_.empty()) window += 2 * H * options_.sink * D * sizeof(T);
    g.direct.device_bytes += window;
    g.direct.window_bytes += window;
    const std::size_t to_ring = n - std::min(n, options_.sink - sink_n_);
    const std::size_t C = ring_capacity(), after = ring_n_ + to_ring;
    const std::size_t flushes = after >= C ? (after - C) / options_.group + 1 : 0;
    if (flushes == 0) return g;
    g.direct.metadata_bytes += flushes * layout_.metadata_bytes();  // of the chunk bytes: scales, mins
    const std::size_t bpc = blocks_per_chunk();
    g.add_pages(chunks_.pool().get(), (blocks_ + flushes + bpc - 1) / bpc - chunks_.size(), true);
    if (blocks_ % bpc != 0 && chunks_.shared(chunks_.size() - 1))
      g.add_copy(chunks_.pool().get(), chunks_.id(chunks_.size() - 1), true);
    return g;
  }
  /// Identifies the pools this sequence shares with the others made from it.
  const void* pool_id() const { return chunks_.pool().get(); }
  /// Of footprint(), the chunk pages (shared ones included).
  memory_footprint pooled_footprint() const { return {chunks_.bytes(), 0, 0, 0}; }
  /// The chunk pool of every sequence made from this one, counted once.
  memory_footprint pool_footprint() const { return chunks_.pool()->footprint(true); }

  /// Saves sinks and residual rows `[tokens, kv_heads, head_dim]` of T and the packed blocks
  /// `[blocks, block_bytes]` as they are stored.
  void save_state(sequence_state& state, const std::string& prefix) const {
    const std::size_t D = std::size_t(shape_.head_dim), H = std::size_t(shape_.kv_heads);
    state.put_ints(prefix + "counts", {std::int64_t(sink_n_), std::int64_t(blocks_), std::int64_t(ring_n_)});
    std::vector<T> k, v;
    for (const auto& seg : exact_segments()) {
      for (std::size_t t = 0; t < seg.tokens; ++t)
        for (std::size_t h = 0; h < H; ++h) {
          k.insert(k.end(), seg.k.row(t, h), seg.k.row(t, h) + D);
          v.insert(v.end(), seg.v.row(t, h), seg.v.row(t, h) + D);
        }
    }
    const std::vector<std::int64_t> rows{std::int64_t(sink_n_ + ring_n_), std::int64_t(H), std::int64_t(D)};
    state.put_rows(prefix + "exact_k", rows, k.data(), k.size());
    state.put_rows(prefix + "exact_v", rows, v.data(), v.size());
    std::vector<std::uint8_t> packed(blocks_ * layout_.block_bytes());
    const quant::block_span span = blocks();
    for (std::size_t b = 0; b < blocks_; ++b)
      for (std::size_t h = 0; h < H; ++h)
        std::copy_n(span.slice(b, h), layout_.head_bytes(), &packed[(b * H + h) * layout_.head_bytes()]);
    state.put(prefix + "blocks", "U8", {std::int64_t(blocks_), std::int64_t(layout_.block_bytes())}, packed.data(),
              packed.size());
  }
  /// Loads what save_state wrote into this empty sequence; throws naming a missing, wrong or
  /// inconsistent array.
  void load_state(const sequence_state& state, const std::string& prefix) {
    detail::require(size() == 0, "load_state: the sequence is not empty");
    const std::size_t D = std::size_t(shape_.head_dim), H = std::size_t(shape_.kv_heads);
    const auto c = state.get_counts(prefix + "counts", {"sinks", "blocks", "residual"}, std::size_t(1) << 40);
    detail::require(c[0] <= options_.sink, "sequence state: ", prefix, "counts.sinks = ", c[0], " exceeds sink = ", options_.sink);
    detail::require(c[2] < ring_capacity(), "sequence state: ", prefix, "counts.residual = ", c[2],
                    " exceeds the residual window (", ring_capacity() - 1, ")");
    detail::require(c[0] == options_.sink || (c[1] == 0 && c[2] == 0), "sequence state: ", prefix,
                    "counts: tokens after unfilled sinks");
    const std::vector<std::int64_t> rows{std::int64_t(c[0] + c[2]), std::int64_t(H), std::int64_t(D)};
    const T* k = state.get_rows<T>(prefix + "exact_k", rows);
    const T* v = state.get_rows<T>(prefix + "exact_v", rows);
    const auto& packed = state.get(prefix + "blocks", "U8", {std::int64_t(c[1]), std::int64_t(layout_.block_bytes())});
    for (std::size_t b = 0; b < c[1] * H; ++b) {  // every block's f16 scales and mins are finite
      const auto* slice = reinterpret_cast<const std::uint8_t*>(packed.bytes.data()) + b * layout_.head_bytes();
      for (const auto& [off, count] : {std::pair{layout_.key_scales_off(), layout_.key_params()},
                                      std::pair{layout_.key_mins_off(), layout_.key_params()},
                                      std::pair{layout_.value_scales_off(), layout_.value_params()},
                                      std::pair{layout_.value_mins_off(), layout_.value_params()}}) {
        std::vector<f16> params(count);
        std::memcpy(params.data(), slice + off, count * sizeof(f16));
        sequence_state::require_finite(prefix + "blocks", params.data(), count);
      }
    }
    if (c[0] + c[1] + c[2] == 0) return;
    allocate();
    for (std::size_t i = 0; i < c[0]; ++i)
      for (std::size_t h = 0; h < H; ++h) {
        std::copy_n(k + (i * H + h) * D, D, k_sink_.data() + (h * options_.sink + i) * D);
        std::copy_n(v + (i * H + h) * D, D, v_sink_.data() + (h * options_.sink + i) * D);
      }
    sink_n_ = c[0];
    for (std::size_t b = 0; b < c[1]; ++b) {
      if (b % blocks_per_chunk() == 0) chunk_ptrs_.push_back(reinterpret_cast<const std::uint8_t*>(chunks_.push()));
      const quant::block_span span{&layout_, chunk_ptrs_.data(), blocks_per_chunk(), b + 1};
      for (std::size_t h = 0; h < H; ++h)
        std::memcpy(const_cast<std::uint8_t*>(span.slice(b, h)),
                    reinterpret_cast<const std::uint8_t*>(packed.bytes.data()) + (b * H + h) * layout_.head_bytes(),
                    layout_.head_bytes());
    }
    blocks_ = c[1];
    const std::size_t C = ring_capacity();
    for (std::size_t i = 0; i < c[2]; ++i)
      for (std::size_t h = 0; h < H; ++h) {
        std::copy_n(k + ((c[0] + i) * H + h) * D, D, k_ring_.data() + (h * C + i) * D);
        std::copy_n(v + ((c[0] + i) * H + h) * D, D, v_ring_.data() + (h * C + i) * D);
      }
    ring_head_ = 0;
    ring_n_ = c[2];
  }

  // ---- read access for diagnostics and tests -------------------------------------------------
  std::size_t sink_tokens() const { return sink_n_; }
  std::size_t quantized_tokens() const { return blocks_ * options_.group; }
  std::size_t residual_tokens() const { return ring_n_; }
  /// The quantized blocks; block b holds positions sink_tokens() + [b G, (b + 1) G).
  quant::block_span blocks() const { return {&layout_, chunk_ptrs_.data(), blocks_per_chunk(), blocks_}; }
  /// Sinks and residual window as segments (positions as stored).
  std::vector<kv_segment<T>> exact_segments() const {
    std::vector<kv_segment<T>> segs;
    const std::ptrdiff_t D = shape_.head_dim;
    if (sink_n_ > 0)
      segs.push_back({{k_sink_.data(), D, std::ptrdiff_t(options_.sink) * D},
                      {v_sink_.data(), D, std::ptrdiff_t(options_.sink) * D}, 0, sink_n_});
    const std::size_t C = ring_capacity(), first = ring_head_;
    const std::size_t n1 = std::min(ring_n_, C - first), start = sink_n_ + quantized_tokens();
    const std::ptrdiff_t hs = std::ptrdiff_t(C) * D;
    if (n1 > 0)
      segs.push_back({{k_ring_.data() + first * D, D, hs}, {v_ring_.data() + first * D, D, hs}, start, n1});
    if (ring_n_ > n1)
      segs.push_back({{k_ring_.data(), D, hs}, {v_ring_.data(), D, hs}, start + n1, ring_n_ - n1});
    return segs;
  }
  /// Bytes held by the actual containers (capacities), for checking footprint().
  std::size_t allocated_bytes() const {
    std::size_t b = chunks_.bytes();
    b += (k_ring_.capacity() + v_ring_.capacity() + k_sink_.capacity() + v_sink_.capacity()) * sizeof(T);
    return b;
  }

 private:
  std::size_t ring_capacity() const { return options_.residual + options_.group; }
  quant_cache(const quant_cache&) = default;  // through fork() and empty_like(): chunks shared

  /// Keeps blocks [0, keep); the chunk pages past them go back to the pool.
  void release_blocks_from(std::size_t keep) {
    blocks_ = keep;
    const std::size_t chunks = (keep + blocks_per_chunk() - 1) / blocks_per_chunk();
    chunks_.resize(chunks);
    chunk_ptrs_.resize(chunks);
  }

  /// Writes the first `rest` tokens of block b, dequantized, to ring slots [0, rest) (the rest of
  /// the ring is dropped by the caller).
  void requantize_later(std::size_t b, std::size_t rest) {
    const std::size_t D = std::size_t(shape_.head_dim), H = std::size_t(shape_.kv_heads), G = options_.group;
    const std::size_t C = ring_capacity();
    const quant::block_span span = blocks();
    std::vector<float> tile(G * D);
    for (std::size_t h = 0; h < H; ++h) {
      const std::uint8_t* slice = span.slice(b, h);
      quant::decode_key_block(slice + layout_.key_codes_off(), reinterpret_cast<const f16*>(slice + layout_.key_scales_off()),
                              reinterpret_cast<const f16*>(slice + layout_.key_mins_off()), layout_, tile.data());
      for (std::size_t t = 0; t < rest; ++t) {
        if (options_.rotate) quant::hadamard_rotate(&tile[t * D], D);  // the normalised rotation is its own inverse
        detail::from_f32_row(&tile[t * D], k_ring_.data() + (h * C + t) * D, D);
      }
      quant::decode_value_rows(slice + layout_.value_codes_off(), reinterpret_cast<const f16*>(slice + layout_.value_scales_off()),
                               reinterpret_cast<const f16*>(slice + layout_.value_mins_off()), G, layout_, tile.data());
      for (std::size_t t = 0; t < rest; ++t) detail::from_f32_row(&tile[t * D], v_ring_.data() + (h * C + t) * D, D);
    }
  }

  void allocate() {
    const std::size_t D = std::size_t(shape_.head_dim), H = std::size_t(shape_.kv_heads);
    if (k_ring_.empty()) {
      k_ring_.resize(H * ring_capacity() * D);
      v_ring_.resize(H * ring_capacity() * D);
    }
    if (options_.sink > 0 && k_sink_.empty()) {
      k_sink_.resize(H * options_.sink * D);
      v_sink_.resize(H * options_.sink * D);
    }
  }

  // k, v [n, kv_heads, head_dim]: sinks first, then the residual ring, flushing blocks of G.
  void store(const dyn_view3& k, const dyn_view3& v) {
    const std::size_t n = k.extent(0);
    if (n == 0) return;
    allocate();
    const std::size_t D = std::size_t(shape_.head_dim), H = std::size_t(shape_.kv_heads);
    visit_dtype(k.type, [&](auto tag) {
      using S = decltype(tag);
      const auto kt = k.as<S>();
      const auto vt = v.as<S>();
      std::vector<float> tmp(D);
      for (std::size_t i = 0; i < n; ++i) {
        T* kd;
        T* vd;
        std::size_t head_stride;
        if (sink_n_ < options_.sink) {
          kd = k_sink_.data() + sink_n_ * D;
          vd = v_sink_.data() + sink_n_ * D;
          head_stride = options_.sink * D;
          ++sink_n_;
        } else {
          const std::size_t slot = (ring_head_ + ring_n_) % ring_capacity();
          kd = k_ring_.data() + slot * D;
          vd = v_ring_.data() + slot * D;
          head_stride = ring_capacity() * D;
          ++ring_n_;
        }
        for (std::size_t h = 0; h < H; ++h) {
          detail::convert_row(kt.row(i, h), kd + h * head_stride, tmp.data(), D);
          detail::convert_row(vt.row(i, h), vd + h * head_stride, tmp.data(), D);
        }
        if (ring_n_ == ring_capacity()) flush_block();
      }
    });
  }

  // Quantizes the G oldest residual tokens (contiguous ring slots) into a new block.
  void flush_block() {
    const std::size_t D = std::size_t(shape_.head_dim), H = std::size_t(shape_.kv_heads), G = options_.group;
    const std::size_t C = ring_capacity();
    if (blocks_ == chunks_.size() * blocks_per_chunk()) {
      chunk_ptrs_.push_back(reinterpret_cast<const std::uint8_t*>(chunks_.push()));
    } else if (chunks_.shared(chunks_.size() - 1)) {  // a fork's chunk: copy it before writing
      chunk_ptrs_.back() = reinterpret_cast<const std::uint8_t*>(
          chunks_.writable(chunks_.size() - 1, chunks_.pool()->page_bytes()));
    }
    const quant::block_span span = blocks();
    const std::size_t b = blocks_;
#pragma omp parallel for schedule(static) if (H > 1)
    for (std::size_t h = 0; h < H; ++h) {
      thread_local std::vector<float> tile;
      tile.resize(G * D);
      const T* kr = k_ring_.data() + (h * C + ring_head_) * D;
      detail::to_f32_row(kr, tile.data(), G * D);
      if (options_.rotate)
        for (std::size_t t = 0; t < G; ++t) quant::hadamard_rotate(&tile[t * D], D);
      std::uint8_t* slice = const_cast<std::uint8_t*>(span.slice(b, h));  // owned by chunks_
      quant::encode_key_block(tile.data(), layout_, slice + layout_.key_codes_off(),
                              reinterpret_cast<f16*>(slice + layout_.key_scales_off()),
                              reinterpret_cast<f16*>(slice + layout_.key_mins_off()));
      const T* vr = v_ring_.data() + (h * C + ring_head_) * D;
      detail::to_f32_row(vr, tile.data(), G * D);
      quant::encode_value_rows(tile.data(), G, layout_, slice + layout_.value_codes_off(),
                               reinterpret_cast<f16*>(slice + layout_.value_scales_off()),
                               reinterpret_cast<f16*>(slice + layout_.value_mins_off()));
    }
    ++blocks_;
    ring_head_ = (ring_head_ + G) % C;
    ring_n_ -= G;
  }

  layer_shape shape_;
  quant_options options_;
  quant::block_layout layout_;
  detail::page_list chunks_;                       // pool pages, each [kv_heads, blocks_per_chunk(), head_bytes]
  std::vector<const std::uint8_t*> chunk_ptrs_;    // the chunks' data, the kernel's view
  std::size_t blocks_ = 0;                         // blocks held
  std::vector<T> k_ring_, v_ring_;                 // [kv_heads, R + G, head_dim], ring of recent tokens
  std::vector<T> k_sink_, v_sink_;                 // [kv_heads, sinks, head_dim]
  std::size_t sink_n_ = 0, ring_head_ = 0, ring_n_ = 0;
};

static_assert(layer_cache_policy<quant_cache<float>>);
static_assert(layer_cache_policy<quant_cache<bf16>>);
static_assert(layer_cache_policy<quant_cache<f16>>);

}  // namespace kvc
