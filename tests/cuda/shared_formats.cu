// The shared format headers compiled by nvcc: host wrappers for the test, and a device kernel using the same functions.
#include "shared_formats.hpp"

#include "kvc/attention/softmax_merge.hpp"
#include "kvc/core/dtype.hpp"
#include "kvc/quant/block_span.hpp"
#include "kvc/quant/group_params.hpp"
#include "kvc/quant/layout.hpp"

namespace kvc::test::nvcc {
namespace {

// Every shared function in device code: this kernel must compile for the GPU (it is the build
// check), and it encodes and decodes one group the way a CUDA quantize kernel will.
__global__ void formats_kernel(const float* x, std::size_t n, int bits, std::uint32_t* codes, float* decoded,
                               std::uint16_t* rounded, float* merged, const std::uint8_t* const* chunks,
                               std::uint8_t* slice_bytes) {
  const std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  float lo = x[0], hi = x[0];
  for (std::size_t j = 1; j < n; ++j) lo = fminf(lo, x[j]), hi = fmaxf(hi, x[j]);
  const quant::group_params p = quant::make_group_params(lo, hi, bits);
  const float scale = to_float(p.scale), min = to_float(p.min);
  codes[i] = quant::quant_code(x[i], min, scale, float(quant::max_code(bits)));
  decoded[i] = quant::dequant(codes[i], scale, min);
  rounded[2 * i] = to_bf16(x[i]).bits;
  rounded[2 * i + 1] = to_f16(x[i]).bits;
  float m = 0.0f, l = 1.0f, acc = to_float(bf16{rounded[2 * i]}) + to_float(f16{rounded[2 * i + 1]});
  kvc::softmax_merge(m, l, &acc, x[i], 1.0f, &x[i], 1);
  merged[i] = acc;
  const quant::block_layout layout{bits, bits, 64, 128, 8};
  const quant::block_span span{&layout, chunks, 1, 1};  // chunks: one block of 8 heads
  slice_bytes[i] = span.slice(0, i % 8)[layout.key_slot(i % 64, i % 128).byte];
}

quant::block_layout layout_of(int kb, int vb, std::size_t group, std::size_t dim, std::size_t heads) {
  return {kb, vb, group, dim, heads};
}

}  // namespace

std::uint32_t bf16_bits(float x) { return to_bf16(x).bits; }
std::uint32_t f16_bits(float x) { return to_f16(x).bits; }
float bf16_value(std::uint16_t bits) { return to_float(bf16{bits}); }
float f16_value(std::uint16_t bits) { return to_float(f16{bits}); }
std::uint32_t group_params_bits(float lo, float hi, int bits) {
  const quant::group_params p = quant::make_group_params(lo, hi, bits);
  return std::uint32_t(p.scale.bits) << 16 | p.min.bits;
}
std::uint32_t quant_code(float x, float min, float scale, float maxq) { return quant::quant_code(x, min, scale, maxq); }
std::size_t head_bytes(int kb, int vb, std::size_t group, std::size_t dim, std::size_t heads) {
  return layout_of(kb, vb, group, dim, heads).head_bytes();
}
std::size_t value_mins_off(int kb, int vb, std::size_t group, std::size_t dim, std::size_t heads) {
  return layout_of(kb, vb, group, dim, heads).value_mins_off();
}
std::size_t key_slot_byte(int kb, int vb, std::size_t group, std::size_t dim, std::size_t heads, std::size_t t,
                          std::size_t c) {
  return layout_of(kb, vb, group, dim, heads).key_slot(t, c).byte;
}
void softmax_merge(float& m, float& l, float* acc, float m2, float l2, const float* acc2, std::size_t dim) {
  kvc::softmax_merge(m, l, acc, m2, l2, acc2, dim);
}
bool device_kernel_built() { return &formats_kernel != nullptr; }

}  // namespace kvc::test::nvcc
