// f64 oracles for decode steps of recorded or synthetic attention: exact scores and mass recall.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "kvc/attention/recall.hpp"
#include "kvc/cache.hpp"
#include "kvc/core/layer_shape.hpp"
#include "kvc/core/tensor_view.hpp"

namespace kvc::support {

/// Exact attention logits q·k·softmax_scale() in f64 of one query row, every query head over
/// every key. q // [q_heads, head_dim]; k // [keys, kv_heads, head_dim]. Returns // [q_heads, keys]
inline std::vector<double> exact_scores(tensor_view<const float, 2> q, tensor_view<const float, 3> k,
                                        const layer_shape& shape) {
  const std::size_t hq = std::size_t(shape.q_heads), d = std::size_t(shape.head_dim);
  const std::size_t group = std::size_t(shape.group()), keys = k.extent(0);
  const double scale = double(shape.softmax_scale());
  std::vector<double> s(hq * keys);
#pragma omp parallel for schedule(static)
  for (std::size_t h = 0; h < hq; ++h) {
    const float* qh = q.row(h);
    for (std::size_t t = 0; t < keys; ++t) {
      const float* kt = k.row(t, h / group);
      double dot = 0;
      for (std::size_t c = 0; c < d; ++c) dot += double(qh[c]) * double(kt[c]);
      s[h * keys + t] = dot * scale;
    }
  }
  return s;
}

/// Σ over the query heads of KV head `kv_head` of the exact softmax mass a decode step covered
/// (kvc::mass_recall): `attended` // [any] are the stored positions the step read, and the new
/// token, the last of the `scores` // [q_heads, keys] row, is always attended. Divide by
/// shape.group() for the mean.
inline double decode_mass_recall(std::span<const double> scores, const layer_shape& shape, std::size_t kv_head,
                                 std::span<const std::size_t> attended) {
  const std::size_t group = std::size_t(shape.group()), keys = scores.size() / std::size_t(shape.q_heads);
  std::vector<std::size_t> read(attended.begin(), attended.end());
  read.push_back(keys - 1);
  double sum = 0;
  for (std::size_t g = 0; g < group; ++g)
    sum += kvc::mass_recall(scores.subspan((kv_head * group + g) * keys, keys), std::span<const std::size_t>(read));
  return sum;
}

/// The stored positions each decode step of one layer attended, per KV head: recorded during the
/// timed steps and scored after them, so that the oracle's sweep over every key does not flush
/// the caches between the steps being timed.
class attended_log {
 public:
  attended_log(std::size_t steps, std::size_t kv_heads) : kv_heads_(kv_heads), positions_(steps * kv_heads) {}

  /// Records what decode step `step` of `layer` attended; nothing for a policy that attends all it holds.
  void record(const kv_cache& cache, int layer, std::size_t step) {
    for (std::size_t kh = 0; kh < kv_heads_; ++kh) {
      auto attended = cache.attended_positions(layer, kh);
      if (!attended) return;
      positions_[step * kv_heads_ + kh] = std::move(*attended);
      partial_ = true;
    }
  }
  /// Adds every recorded step's decode_mass_recall to `sum` and its query heads to `count`;
  /// scores_of(step) gives that step's exact scores // [q_heads, keys]. Nothing when nothing was recorded.
  template <class ScoresOf>
  void add_recall(const layer_shape& shape, ScoresOf&& scores_of, double& sum, std::size_t& count) const {
    for (std::size_t s = 0; partial_ && s < positions_.size() / kv_heads_; ++s) {
      const std::vector<double>& scores = scores_of(s);
      for (std::size_t kh = 0; kh < kv_heads_; ++kh) {
        sum += decode_mass_recall(scores, shape, kh, positions_[s * kv_heads_ + kh]);
        count += std::size_t(shape.group());
      }
    }
  }

 private:
  std::size_t kv_heads_;
  std::vector<std::vector<std::size_t>> positions_;  // [steps, kv_heads]
  bool partial_ = false;
};

}  // namespace kvc::support
