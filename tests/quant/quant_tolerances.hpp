// Named tolerances of the quantized-policy tests.
#pragma once

namespace kvc::test {

/// Float slack of one encode/decode round trip on top of the scale/2 quantization bound,
/// relative to the magnitudes involved (|x| + |min| + (2^b - 1) scale): a few f32 roundings in
/// (x - min) / scale and code * scale + min.
inline constexpr double quant_roundtrip_float_rel = 1e-6;
/// Fast decoder vs the reference decoder (FMA contraction may differ), relative as above.
inline constexpr double quant_decode_fast_rel = 1e-6;
/// Hadamard rotation applied twice vs the input, and dot products before/after, relative.
inline constexpr double hadamard_rel = 1e-5;

}  // namespace kvc::test
