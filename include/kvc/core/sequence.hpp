// Sequence ids and varlen batch runs: how a cache holding many sequences is addressed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kvc {

/// A sequence's id within a cache (any value; engines use their request ids). Sequence 0 is the
/// default one that the single-sequence calls (`append_and_attend(layer, q, k, v, out)`) use.
enum class seq_id : std::uint32_t {};
inline constexpr seq_id default_seq{0};
inline std::string to_string(seq_id s) { return std::to_string(std::uint32_t(s)); }

/// One sequence's part of a varlen batch: its `tokens` new tokens are consecutive rows of the
/// batch's q, k, v and out, in the order the runs are listed.
struct seq_run {
  seq_id seq{};
  std::size_t tokens = 0;
};

}  // namespace kvc
