// The shared formats evaluated by code nvcc compiled (host pass), for comparison with the g++ build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvc::test::nvcc {

/// to_bf16(x).bits, to_f16(x).bits and to_float of both, as compiled by nvcc.
std::uint32_t bf16_bits(float x);
std::uint32_t f16_bits(float x);
float bf16_value(std::uint16_t bits);
float f16_value(std::uint16_t bits);
/// make_group_params(lo, hi, bits) as (scale bits << 16 | min bits), and quant_code.
std::uint32_t group_params_bits(float lo, float hi, int bits);
std::uint32_t quant_code(float x, float min, float scale, float maxq);
/// block_layout{kb, vb, group, dim, heads}: head_bytes(), value_mins_off(), key_slot(t, c).byte.
std::size_t head_bytes(int kb, int vb, std::size_t group, std::size_t dim, std::size_t heads);
std::size_t value_mins_off(int kb, int vb, std::size_t group, std::size_t dim, std::size_t heads);
std::size_t key_slot_byte(int kb, int vb, std::size_t group, std::size_t dim, std::size_t heads, std::size_t t, std::size_t c);
/// softmax_merge of (m, l, acc [dim]) with (m2, l2, acc2 [dim]), in place.
void softmax_merge(float& m, float& l, float* acc, float m2, float l2, const float* acc2, std::size_t dim);
/// True if this build also compiled the formats into a device kernel (it always does; the
/// kernel is only launched where a GPU exists).
bool device_kernel_built();

}  // namespace kvc::test::nvcc
