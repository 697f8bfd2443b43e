// Host API of kvc::cuda: device discovery and dtype conversion (plain C++, no CUDA headers).
#pragma once

#include <cstddef>
#include <string>

#include "kvc/core/dtype.hpp"

namespace kvc::cuda {

/// Number of usable CUDA devices (0 when there is no driver or no GPU; never throws).
int device_count() noexcept;

/// Name of device 0, or the reason none is usable.
std::string device_description();

/// dst[i] = float(src[i]) for n bf16 values, computed on device 0 (host buffers in and out).
/// Throws kvc::error naming the CUDA error when no device is usable.
void bf16_to_f32(const bf16* src, float* dst, std::size_t n);

}  // namespace kvc::cuda
