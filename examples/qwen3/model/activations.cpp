// Sizing of the reused forward-pass buffers.
#include "model/activations.hpp"

#include <array>

namespace kvc::qwen3 {

void activation::reserve(std::size_t rows, std::size_t cols) {
  cols_ = cols;
  if (data_.size() < rows * cols) data_.resize(rows * cols);
}

namespace {

/// One buffer of `activations` and the [rows, cols] prepare gives it.
struct buffer_size {
  activation activations::*buffer;
  std::size_t rows, cols;
};

/// Every buffer prepare(c, tokens) sizes: the one list prepare and bytes_for read.
std::array<buffer_size, 10> buffer_sizes(const model_config& c, std::size_t tokens) {
  const std::size_t H = std::size_t(c.hidden_size), Q = std::size_t(c.q_width());
  const std::size_t KV = std::size_t(c.kv_width()), I = std::size_t(c.intermediate_size);
  return {{{&activations::x, tokens, H},
           {&activations::h, tokens, H},
           {&activations::o, tokens, H},
           {&activations::q, tokens, Q},
           {&activations::attn, tokens, Q},
           {&activations::k, tokens, KV},
           {&activations::v, tokens, KV},
           {&activations::gate, tokens, I},
           {&activations::up, tokens, I},
           {&activations::predicted, 1, Q}}};
}

}  // namespace

void activations::prepare(const model_config& c, std::size_t tokens) {
  rows = tokens;
  for (const buffer_size& b : buffer_sizes(c, tokens)) (this->*b.buffer).reserve(b.rows, b.cols);
  if (positions.size() < tokens) positions.resize(tokens);
}

std::size_t activations::bytes_for(const model_config& c, std::size_t tokens) {
  std::size_t n = tokens * sizeof(std::int32_t);  // positions
  for (const buffer_size& b : buffer_sizes(c, tokens)) n += b.rows * b.cols * sizeof(float);
  return n;
}

}  // namespace kvc::qwen3
