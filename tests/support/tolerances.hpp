// Named tolerances of the numeric tests, one per path, in one place.
#pragma once

namespace kvc::test {

/// CPU fast attention (f32 accumulation, fast exp) vs the f64 oracle on the same stored values:
/// ‖out − exact‖ / ‖exact‖.
inline constexpr double attention_f32_rel = 1e-5;
/// detail::fast_exp vs std::exp, relative, over the softmax range.
inline constexpr double fast_exp_rel = 2e-7;

}  // namespace kvc::test
