// Fuzz harness: a saved-sequence file's bytes through kvc::io::parse_sequence_bytes and into
// small caches of each policy; only kvc::error may escape, and a loaded sequence must hold
// what its counts say.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "kvc/saved_sequence.hpp"
#include "kvc/kvc.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// The caches the seed corpus was saved from (tests/fuzz/make_sequence_seeds.cpp).
constexpr const char* specs[] = {"full:f32,page=4", "quant:k=2,v=4,group=8,residual=8,sink=1,dtype=f32",
                                 "sparse:topk=2,sink=1,window=2,channels=2,dtype=f32"};
const kvc::layer_shape shape{2, 1, 8};

void try_load(const kvc::io::sequence_file& file) {
  for (const char* spec : specs) {
    kvc::kv_cache cache(spec, 2, shape);
    try {
      kvc::io::check_sequence_matches(file, kvc::io::layout_of(cache), "fuzz");
    } catch (const kvc::error&) {
      // another policy's file: still run its arrays through this one's checks below
    }
    try {
      cache.load_state(kvc::seq_id{1}, file.state);
    } catch (const kvc::error&) {
      check(cache.size(0, kvc::seq_id{1}) == 0 && cache.size(1, kvc::seq_id{1}) == 0);
      continue;
    }
    // accepted: the sequence attends without fault and grows by the step's token
    const std::size_t before[2] = {cache.size(0, kvc::seq_id{1}), cache.size(1, kvc::seq_id{1})};
    float q[2 * 8] = {0.5f, -1, 0.25f, 2, 1, 0, -0.5f, 1, 1, 1, 1, 1, -1, -1, 0, 0};
    float kv[8] = {1, -1, 0.5f, 0, 2, -2, 0.25f, 1};
    float out[2 * 8];
    for (int l = 0; l < 2; ++l)
      cache.append_and_attend(l, kvc::seq_id{1}, kvc::tensor_view<const float, 3>(q, {1, 2, 8}),
                              kvc::tensor_view<const float, 3>(kv, {1, 1, 8}),
                              kvc::tensor_view<const float, 3>(kv, {1, 1, 8}), kvc::tensor_view<float, 3>(out, {1, 2, 8}));
    for (int l = 0; l < 2; ++l) check(cache.size(l, kvc::seq_id{1}) == before[l] + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  for (bool verify : {true, false}) {
    try {
      try_load(kvc::io::parse_sequence_bytes(bytes, "fuzz", verify));
    } catch (const kvc::error&) {
    }
  }
  return 0;
}
