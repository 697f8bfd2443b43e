// Host API of kvc's CUDA kernels: launch a phase kernel on the GPU in stream order (plain C++, no CUDA headers).
#pragma once

#include "kvc/core/dtype.hpp"
#include "kvc/core/stream.hpp"
#include "kvc/cuda/kernels/decode_dense.hpp"
#include "kvc/cuda/kernels/decode_quant.hpp"
#include "kvc/cuda/kernels/dequantize_blocks.hpp"
#include "kvc/cuda/kernels/merge_partials.hpp"
#include "kvc/cuda/kernels/phase_kernel.hpp"
#include "kvc/cuda/kernels/quantize_blocks.hpp"

namespace kvc::cuda {

/// Validates p (kvc::error naming the field) and launches kernel K over K::grid(p) on device 0
/// in stream s. Every pointer in p is device memory (or host memory the device can address).
/// Throws kvc::error naming the CUDA error when no device is usable or the launch fails; a
/// grid with no blocks launches nothing. Instantiated for the kernels listed below.
template <kernels::phase_kernel K>
void launch(const typename K::params& p, stream s = {});

extern template void launch<kernels::quantize_blocks<float>>(const kernels::quantize_blocks<float>::params&, stream);
extern template void launch<kernels::quantize_blocks<bf16>>(const kernels::quantize_blocks<bf16>::params&, stream);
extern template void launch<kernels::quantize_blocks<f16>>(const kernels::quantize_blocks<f16>::params&, stream);
extern template void launch<kernels::dequantize_blocks>(const kernels::dequantize_blocks::params&, stream);
extern template void launch<kernels::decode_dense<float>>(const kernels::decode_dense<float>::params&, stream);
extern template void launch<kernels::decode_dense<bf16>>(const kernels::decode_dense<bf16>::params&, stream);
extern template void launch<kernels::decode_dense<f16>>(const kernels::decode_dense<f16>::params&, stream);
extern template void launch<kernels::decode_quant>(const kernels::decode_quant::params&, stream);
extern template void launch<kernels::merge_partials>(const kernels::merge_partials::params&, stream);

}  // namespace kvc::cuda
