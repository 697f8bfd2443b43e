// GPU instantiations of split-K dense decode attention and the partials merge (include/kvc/cuda/kernels/).
#include "kvc/cuda/launch.hpp"
#include "phase_launch.cuh"

namespace kvc::cuda {
template void launch<kernels::decode_dense<float>>(const kernels::decode_dense<float>::params&, stream);
template void launch<kernels::decode_dense<bf16>>(const kernels::decode_dense<bf16>::params&, stream);
template void launch<kernels::decode_dense<f16>>(const kernels::decode_dense<f16>::params&, stream);
template void launch<kernels::merge_partials>(const kernels::merge_partials::params&, stream);
}  // namespace kvc::cuda
