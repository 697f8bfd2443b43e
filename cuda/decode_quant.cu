// GPU instantiation of split-K decode attention on packed quantized blocks (include/kvc/cuda/kernels/decode_quant.hpp).
#include "kvc/cuda/launch.hpp"
#include "phase_launch.cuh"

namespace kvc::cuda {
template void launch<kernels::decode_quant>(const kernels::decode_quant::params&, stream);
}  // namespace kvc::cuda
