// Sizing of the reused forward-pass buffers.
#include "model/activations.hpp"

namespace kvc::qwen3 {

void activation::reserve(std::size_t rows, std::size_t cols) {
  cols_ = cols;
  if (data_.size() < rows * cols) data_.resize(rows * cols);
}

void activations::prepare(const model_config& c, std::size_t tokens) {
  const std::size_t H = std::size_t(c.hidden_size), Q = std::size_t(c.q_width());
  const std::size_t KV = std::size_t(c.kv_width()), I = std::size_t(c.intermediate_size);
  rows = tokens;
  for (activation* a : {&x, &h, &o}) a->reserve(tokens, H);
  for (activation* a : {&q, &attn}) a->reserve(tokens, Q);
  for (activation* a : {&k, &v}) a->reserve(tokens, KV);
  for (activation* a : {&gate, &up}) a->reserve(tokens, I);
  predicted.reserve(1, Q);
  if (positions.size() < tokens) positions.resize(tokens);
}

}  // namespace kvc::qwen3
