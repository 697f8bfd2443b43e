// The activation buffers of a forward pass, kept across calls so that decode steps allocate nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kvc/core/tensor_view.hpp"
#include "model/config.hpp"

namespace kvc::qwen3 {

/// A [rows, cols] f32 buffer whose storage only grows: viewing fewer rows than it was sized for
/// reuses the same memory.
class activation {
 public:
  /// Makes room for `rows` rows of `cols` floats (allocates only when it holds fewer).
  void reserve(std::size_t rows, std::size_t cols);
  std::size_t cols() const { return cols_; }
  /// The first `rows` rows. // [rows, cols]
  tensor_view<float, 2> view(std::size_t rows) { return {data_.data(), {rows, cols_}}; }
  tensor_view<const float, 2> view(std::size_t rows) const { return {data_.data(), {rows, cols_}}; }
  /// The same rows split into heads of `head_dim`. // [rows, cols / head_dim, head_dim]
  tensor_view<float, 3> heads(std::size_t rows, std::size_t head_dim) {
    return {data_.data(), {rows, cols_ / head_dim, head_dim}};
  }

 private:
  std::vector<float> data_;
  std::size_t cols_ = 0;
};

/// Every intermediate of one forward call over `rows` tokens (gemma.cpp's Activations): model
/// owns one and sizes it per call, so it is allocated at the first call and at calls with more
/// tokens than any before, never during decode.
struct activations {
  std::size_t rows = 0;                 // tokens of the current call
  activation x;                         // [rows, hidden] residual stream
  activation h;                         // [rows, hidden] normalised input of a block
  activation q, attn;                   // [rows, q_heads·head_dim] queries, attention output
  activation k, v;                      // [rows, kv_heads·head_dim]
  activation o;                         // [rows, hidden] o_proj / down_proj output
  activation gate, up;                  // [rows, intermediate]
  activation predicted;                 // [1, q_heads·head_dim] next layer's query (decode)
  std::vector<std::int32_t> positions;  // [rows] default RoPE positions (forward without them)

  /// Sizes every buffer for `tokens` rows of `config`'s widths and sets rows = tokens.
  void prepare(const model_config& config, std::size_t tokens);
  /// The bytes prepare(config, tokens) allocates (every buffer and the positions), from the same
  /// list of buffers prepare sizes; planners count it (kvc-plan).
  static std::size_t bytes_for(const model_config& config, std::size_t tokens);
};

}  // namespace kvc::qwen3
