// GPU instantiations of the quantize and dequantize kernels (include/kvc/cuda/kernels/{quantize,dequantize}_blocks.hpp).
#include "kvc/cuda/launch.hpp"
#include "phase_launch.cuh"

namespace kvc::cuda {
template void launch<kernels::quantize_blocks<float>>(const kernels::quantize_blocks<float>::params&, stream);
template void launch<kernels::quantize_blocks<bf16>>(const kernels::quantize_blocks<bf16>::params&, stream);
template void launch<kernels::quantize_blocks<f16>>(const kernels::quantize_blocks<f16>::params&, stream);
template void launch<kernels::dequantize_blocks>(const kernels::dequantize_blocks::params&, stream);
}  // namespace kvc::cuda
