// Seeded token sampler: presence penalty, greedy, temperature, top-k, top-p and min-p.
#include "sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {

sampling_params sampling_params::thinking() {
  sampling_params p;
  p.temperature = 0.6f;
  p.top_p = 0.95f;
  p.top_k = 20;
  p.min_p = 0;
  return p;
}

sampling_params sampling_params::non_thinking() {
  sampling_params p;
  p.temperature = 0.7f;
  p.top_p = 0.8f;
  p.top_k = 20;
  p.min_p = 0;
  return p;
}

sampler::sampler(sampling_params params) : params_(params), rng_(params.seed) {
  kvc::detail::require(std::isfinite(params.temperature) && params.temperature >= 0,
                       "sampler: temperature must be >= 0, got ", params.temperature);
  kvc::detail::require(params.top_k >= 0, "sampler: top_k must be >= 0, got ", params.top_k);
  kvc::detail::require(params.top_p > 0 && params.top_p <= 1, "sampler: top_p must be in (0, 1], got ",
                       params.top_p);
  kvc::detail::require(params.min_p >= 0 && params.min_p <= 1, "sampler: min_p must be in [0, 1], got ",
                       params.min_p);
  kvc::detail::require(std::isfinite(params.presence_penalty), "sampler: presence_penalty must be finite");
}

double sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

void sampler::accept(std::int32_t token) {
  kvc::detail::require(token >= 0, "sampler: accepted token id must be >= 0, got ", token);
  const auto t = static_cast<std::size_t>(token);
  if (t >= seen_.size()) seen_.resize(t + 1, 0);
  if (!seen_[t]) {
    seen_[t] = 1;
    seen_ids_.push_back(token);
  }
}

void sampler::reset() {
  seen_.clear();
  seen_ids_.clear();
  rng_.seed(params_.seed);
}

std::int32_t sampler::sample(std::span<const float> logits) {
  kvc::detail::require(!logits.empty(), "sampler: empty logits");
  const auto n = logits.size();

  const float penalty = params_.presence_penalty;
  const auto value = [&](std::size_t i) {  // the logit after the presence penalty
    const float l = logits[i];
    return (penalty != 0 && i < seen_.size() && seen_[i]) ? l - penalty : l;
  };
  const auto usable = [](float l) { return !std::isnan(l) && l != -std::numeric_limits<float>::infinity(); };
  // Higher logit first; equal logits by lower id: a total order, so results never depend on the
  // sort algorithm of the standard library.
  const auto better = [](const candidate& a, const candidate& b) {
    return a.logit != b.logit ? a.logit > b.logit : a.id < b.id;
  };

  cands_.clear();
  if (params_.temperature == 0 || (params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < n)) {
    // Greedy (k = 1) or top-k: one pass keeping the k best in a heap whose front is the worst of them.
    const std::size_t k = params_.temperature == 0 ? 1 : static_cast<std::size_t>(params_.top_k);
    cands_.reserve(k);
    for (std::size_t i = 0; i < n; ++i) {
      const float l = value(i);
      if (!usable(l)) continue;
      const candidate c{l, static_cast<std::int32_t>(i), 0.0};
      if (cands_.size() < k) {
        cands_.push_back(c);
        std::push_heap(cands_.begin(), cands_.end(), better);
      } else if (better(c, cands_.front())) {
        std::pop_heap(cands_.begin(), cands_.end(), better);
        cands_.back() = c;
        std::push_heap(cands_.begin(), cands_.end(), better);
      }
    }
    kvc::detail::require(!cands_.empty(), "sampler: every logit is -inf or NaN");
    std::sort(cands_.begin(), cands_.end(), better);
    if (params_.temperature == 0) return cands_.front().id;
  } else {
    cands_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const float l = value(i);
      if (usable(l)) cands_.push_back({l, static_cast<std::int32_t>(i), 0.0});
    }
    kvc::detail::require(!cands_.empty(), "sampler: every logit is -inf or NaN");
  }

  // Softmax at the temperature, in double.
  const double inv_t = 1.0 / params_.temperature;
  float top = cands_.front().logit;
  for (const auto& c : cands_) top = std::max(top, c.logit);
  double total = 0;
  for (auto& c : cands_) total += c.p = std::exp((static_cast<double>(c.logit) - top) * inv_t);

  std::size_t keep = cands_.size();
  if (params_.top_p < 1) {
    // Smallest set of most likely tokens whose mass reaches top_p: sort a growing prefix only.
    constexpr std::size_t first_prefix = 64;
    const double target = static_cast<double>(params_.top_p) * total;
    for (std::size_t k = std::min(cands_.size(), first_prefix);; k = std::min(cands_.size(), k * 4)) {
      if (k < cands_.size()) std::nth_element(cands_.begin(), cands_.begin() + k, cands_.end(), better);
      std::sort(cands_.begin(), cands_.begin() + k, better);
      double cum = 0;
      std::size_t i = 0;
      while (i < k && cum < target) cum += cands_[i++].p;
      if (cum >= target || k == cands_.size()) {
        keep = std::max<std::size_t>(i, 1);
        break;
      }
    }
  }
  if (params_.min_p > 0) {
    double p_max = 0;
    for (std::size_t i = 0; i < keep; ++i) p_max = std::max(p_max, cands_[i].p);
    const double floor = static_cast<double>(params_.min_p) * p_max;
    const auto end = std::stable_partition(cands_.begin(), cands_.begin() + keep,
                                           [floor](const candidate& c) { return c.p >= floor; });
    keep = static_cast<std::size_t>(end - cands_.begin());
  }

  double kept = 0;
  for (std::size_t i = 0; i < keep; ++i) kept += cands_[i].p;
  const double u = uniform() * kept;
  double cum = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    cum += cands_[i].p;
    if (u < cum) return cands_[i].id;
  }
  return cands_[keep - 1].id;  // rounding left u at the very top
}

}  // namespace kvc::qwen3
