// Fuzz harness: a whole GGUF file's bytes through kvc::io::parse_gguf_bytes and dequantization;
// only kvc::error may escape, and an accepted file must satisfy the format's rules.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "kvc/io/gguf.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Invariants of an accepted header, checked independently of the parser's code.
void check_accepted(const kvc::io::gguf_header& h, std::span<const std::byte> file) {
  check(h.version == 2 || h.version == 3);
  check(h.alignment != 0 && (h.alignment & (h.alignment - 1)) == 0);
  check(h.data_offset % h.alignment == 0);
  for (const auto& t : h.tensors) {
    const auto traits = kvc::io::ggml_traits(std::uint32_t(t.type));
    check(traits.has_value());
    check(!t.dims.empty() && t.dims.size() <= 4 && t.dims[0] % traits->block_size == 0);
    check(t.offset % h.alignment == 0);
    check(h.data_offset + t.offset + t.bytes <= file.size());
    long double numel = 1;
    for (auto d : t.dims) numel *= static_cast<long double>(d);
    check(numel / traits->block_size * traits->block_bytes == static_cast<long double>(t.bytes));
    // Dequantize small tensors through the public function: ASan catches any overread.
    if (traits->dequantizable && t.numel() <= 4096) {
      std::vector<float> out(std::size_t(t.numel()));
      kvc::io::dequantize_row(t.type, file.data() + h.data_offset + t.offset, out.data(), t.numel());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    check_accepted(kvc::io::parse_gguf_bytes(bytes, "fuzz input"), bytes);
  } catch (const kvc::error&) {
    // Rejected input: the expected outcome for most mutations.
  }
  return 0;
}
