// What a policy holds for one step, described for a backend to attend (FlashInfer's Params idea).
#pragma once

#include <vector>

#include "kvc/core/kv_segment.hpp"
#include "kvc/core/memory_space.hpp"
#include "kvc/quant/block_span.hpp"

namespace kvc {

/// The stored form a step attends, as a policy describes it: rows kept exactly (sinks, residual
/// and recent windows, pages, gathered top-k rows) and packed quantized blocks. Every stored
/// position precedes the step's queries, so all of it is visible to every query. The policy keeps
/// the bookkeeping (which positions, which blocks, which rows were selected); a backend only
/// reads what this names. Element type T is the policy's storage type (float, bf16, f16).
template <class T>
struct stored_view {
  std::vector<kv_segment<T>> segments;  // rows attended exactly, each [tokens, kv_heads, head_dim]
  quant::block_span blocks{};           // packed blocks attended on their codes (count 0: none)
  bool rotated_keys = false;            // the blocks' keys were Hadamard-rotated before quantization
  memory_space space = memory_space::host;  // where segments and blocks live
};

}  // namespace kvc
