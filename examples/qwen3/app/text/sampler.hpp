// Next-token sampling: greedy, temperature, top-k, top-p, min-p, presence penalty; seeded.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace kvc::qwen3 {

/// Sampling settings. temperature 0 means greedy (argmax); top_k 0, top_p 1 and min_p 0 disable
/// those filters.
struct sampling_params {
  float temperature = 0;       ///< 0 = greedy
  int top_k = 0;               ///< keep the k most likely tokens (0 = all)
  float top_p = 1;             ///< keep the smallest set whose probability reaches top_p
  float min_p = 0;             ///< drop tokens below min_p x the top probability
  float presence_penalty = 0;  ///< subtracted once from the logit of every accepted token
  std::uint64_t seed = 0;      ///< PRNG seed (std::mt19937_64)

  /// Qwen3 thinking-mode advice: T 0.6, top-p 0.95, top-k 20, min-p 0.
  static sampling_params thinking();
  /// Qwen3 non-thinking advice: T 0.7, top-p 0.8, top-k 20, min-p 0.
  static sampling_params non_thinking();
};

/// Picks tokens from logits. Order: presence penalty, then greedy argmax when temperature is 0,
/// otherwise top-k, softmax at the temperature, top-p, min-p, and an inverse-CDF draw over the kept
/// tokens (most likely first when top-k or top-p sorted them, else in id order).
/// -inf and NaN logits are never chosen. The same seed and inputs give the same tokens on every platform
/// (mt19937_64 with a fixed 53-bit float mapping, no std distributions).
class sampler {
 public:
  /// kvc::error when a parameter is out of range (temperature < 0, top_p outside (0, 1], ...).
  explicit sampler(sampling_params params);

  /// The chosen token id (an index into logits). kvc::error when logits is empty or all -inf/NaN.
  std::int32_t sample(std::span<const float> logits);

  /// Records a generated (or prompt) token for the presence penalty.
  void accept(std::int32_t token);

  /// Forgets accepted tokens and restarts the PRNG from the seed.
  void reset();

  const sampling_params& params() const { return params_; }

 private:
  double uniform();  // in [0, 1)

  sampling_params params_;
  std::mt19937_64 rng_;
  struct candidate {
    float logit;
    std::int32_t id;
    double p;  // unnormalized probability at the temperature
  };

  std::vector<std::uint8_t> seen_;      // seen_[id] = 1 once accepted
  std::vector<std::int32_t> seen_ids_;  // the accepted ids, for the penalty pass
  std::vector<candidate> cands_;        // scratch
};

}  // namespace kvc::qwen3
