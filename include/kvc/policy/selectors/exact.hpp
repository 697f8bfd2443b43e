// The exact selector: full-dimension group scores of every host token (an oracle for diagnostics).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kvc/detail/topk.hpp"
#include "kvc/detail/growth.hpp"
#include "kvc/policy/selectors/selector.hpp"

namespace kvc {

/// Scores every host token with the full key (qsum · k over all head_dim channels), reading every
/// host key row (counted host→device), and takes the top k. No metadata. This is the best a
/// top-k-per-KV-head selection can do for the summed group score; use it to measure how much
/// recall the cheap selectors give up, not for speed.
template <class T>
class exact_selector {
 public:
  static constexpr const char* name = "exact";
  explicit exact_selector(const layer_shape& shape)
      : dim_(std::size_t(shape.head_dim)), scratch_(std::size_t(shape.kv_heads)) {}

  void on_offload(std::size_t, const T*, std::ptrdiff_t) {}
  bool prefetch(const float*, const detail::host_kv_store<T>&, detail::tier_link&, std::size_t) { return false; }
  void end_step() {}

  void select(std::size_t h, const float* qsum, const detail::host_kv_store<T>& host, std::size_t count,
              detail::tier_link& link, std::uint32_t* out) {
    auto& s = scratch_[h];
    const std::size_t n = host.size();
    s.scores.resize(n);
    for (std::size_t j = 0; j < n; ++j)
      s.scores[j] = detail::dot_row(qsum, link.read_from_host(host.key_row(j, h), dim_), dim_);
    detail::top_k_indices(s.scores.data(), n, count, s.tmp, out);
  }

  memory_footprint footprint() const { return {}; }
  memory_footprint pooled_footprint() const { return {}; }
  memory_footprint pool_footprint() const { return {}; }
  void add_growth(std::size_t, detail::growth&) const {}
  void truncate(std::size_t, const detail::host_kv_store<T>&) {}
  void clear() {}

 private:
  struct scratch {
    std::vector<float> scores;
    detail::top_k_scratch tmp;
  };
  std::size_t dim_;
  std::vector<scratch> scratch_;  // [kv_heads], per-step workspace (not counted)
};

}  // namespace kvc
