// Bit widths of the min/scale codecs (1, 2, 4, 8) and the code-per-byte arithmetic they share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kvc/config.hpp"
#include "kvc/core/error.hpp"

namespace kvc::quant {

/// True for the supported code widths: 1, 2, 4 and 8 bits.
KVC_HOST_DEVICE constexpr bool valid_bits(int bits) { return bits == 1 || bits == 2 || bits == 4 || bits == 8; }

/// Codes held by one byte at `bits` per code.
KVC_HOST_DEVICE constexpr std::size_t codes_per_byte(int bits) { return std::size_t(8 / bits); }

/// Largest code at `bits`: 2^bits - 1.
KVC_HOST_DEVICE constexpr std::uint32_t max_code(int bits) { return (1u << bits) - 1u; }

/// Throws kvc::error naming `what` unless bits is 1, 2, 4 or 8.
inline void check_bits(int bits, const char* what) {
  detail::require(valid_bits(bits), what, " must be one of {1, 2, 4, 8} bits, got ", bits);
}

/// Calls fn(std::integral_constant<int, B>{}) for the run-time bit width.
template <class Fn>
decltype(auto) visit_bits(int bits, Fn&& fn) {
  switch (bits) {
    case 1: return fn(std::integral_constant<int, 1>{});
    case 2: return fn(std::integral_constant<int, 2>{});
    case 4: return fn(std::integral_constant<int, 4>{});
    case 8: return fn(std::integral_constant<int, 8>{});
  }
  detail::fail("bits must be one of {1, 2, 4, 8}, got ", bits);
}

}  // namespace kvc::quant
