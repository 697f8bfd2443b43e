// Fuzz harness: a whole safetensors file's bytes through kvc::io::parse_safetensors_bytes;
// only kvc::error may escape the parser, and an accepted file must satisfy the format's rules.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>

#include "kvc/io/safetensors.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Invariants of a header the parser accepted, checked independently of the parser's own code.
void check_accepted(const kvc::io::safetensors_header& h, std::span<const std::byte> file) {
  check(h.header_bytes <= kvc::io::max_safetensors_header_bytes);
  check(h.data_offset == 8 + h.header_bytes && h.data_offset <= file.size());
  const std::uint64_t data_bytes = file.size() - h.data_offset;
  std::uint64_t total = 0;
  for (const kvc::io::tensor_info& t : h.tensors) {
    check(t.begin <= t.end && t.end <= data_bytes);
    check(kvc::io::safetensors_dtype_bits(t.dtype_name) == t.element_bits);
    long double numel = 1;  // no overflow concerns in long double for a sanity bound
    for (const std::int64_t d : t.shape) {
      check(d >= 0);
      numel *= static_cast<long double>(d);
    }
    check(numel * t.element_bits / 8 == static_cast<long double>(t.bytes()));
    total += t.bytes();
    if (t.supported()) {
      // Read every element through the public accessor: ASan catches any out-of-range offset.
      const kvc::io::tensor_ref r{&t, file.data() + h.data_offset + t.begin, "fuzz"};
      const auto values = r.to_float();
      check(values.size() == static_cast<std::size_t>(t.numel()));
    }
  }
  check(total == data_bytes);  // offsets tile the data buffer exactly (no holes, no overlaps)
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    check_accepted(kvc::io::parse_safetensors_bytes(bytes, "fuzz input"), bytes);
  } catch (const kvc::error&) {
    // Rejected input: the expected outcome for most mutations.
  }
  return 0;
}
