// Build configuration shared by host and device code: KVC_HOST_DEVICE and a bit cast both compilers accept.
#pragma once

/// Marks a function callable from host and device code. Plain C++ builds see nothing; nvcc (and
/// other CUDA compilers) compile the same body for the GPU. Only the shared formats carry it:
/// dtype conversions, the quantized block layout and group parameters, and the softmax merge.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define KVC_HOST_DEVICE __host__ __device__
#else
#define KVC_HOST_DEVICE
#endif

namespace kvc::detail {

/// std::bit_cast for host and device code (nvcc's device pass has no std::bit_cast).
template <class To, class From>
KVC_HOST_DEVICE constexpr To bit_cast(const From& from) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast needs types of the same size");
  return __builtin_bit_cast(To, from);
}

}  // namespace kvc::detail
