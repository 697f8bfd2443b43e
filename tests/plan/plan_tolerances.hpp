// Named tolerances and workload settings of the TailorKV plan tests.
#pragma once

namespace kvc::test {

/// dense_preference_score (f32 dot products, f64 softmax) vs a direct f64 computation of the
/// same formula: |P − P_f64|. P is a mean of shares in [0, 1].
inline constexpr double dense_score_abs = 1e-5;
/// tailorkv:calibrate=1 vs the chosen policy built directly and fed the same calls: the same
/// code runs on the same data, so the outputs must match to the last bit.
inline constexpr double composed_output_abs = 0.0;
/// Synthetic "sparse" layers for calibration: heavy hitters strong and common enough that the
/// top 5% of keys hold well over 80% of the mass. At head_dim 128 and 2%, strength 5 gives
/// P ≈ 0.01–0.06 (max 0.058 over 300 draws of 1–32 queries, 1–2k keys), far below tau = 0.2;
/// strength 4 gives P ≈ 0.06 typical but a tail past 0.2; the workload's defaults (strength 2,
/// 1%) give P ≈ 0.6, which TailorKV would call dense. Dense layers score P ≈ 0.69–0.78.
inline constexpr float sparse_heavy_strength = 5.0f;
inline constexpr float sparse_heavy_fraction = 0.02f;

}  // namespace kvc::test
