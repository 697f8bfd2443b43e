// Saving and resuming one sequence of a kv_cache: kvc::io::save_sequence / load_sequence.
#pragma once

#include <filesystem>

#include "kvc/cache.hpp"
#include "kvc/io/sequence_file.hpp"

namespace kvc::io {

/// The layout a sequence file records of `cache`: shape and each layer's spec.
inline sequence_layout layout_of(const kv_cache& cache) {
  sequence_layout l{cache.shape(), {}};
  for (int i = 0; i < cache.layers(); ++i) l.specs.push_back(cache.spec(i));
  return l;
}

/// Writes sequence `seq` of `cache` to `path` (safetensors; every layer's stored form, the
/// cache's layout and a checksum), so a long conversation can be parked and resumed.
inline void save_sequence(const kv_cache& cache, seq_id seq, const std::filesystem::path& path) {
  write_sequence_file(path, layout_of(cache), cache.save_state(seq));
}

/// Loads a file save_sequence wrote into sequence `seq` (new or empty) of `cache`: checks the
/// file (a truncated or altered one is rejected), that it was saved from a cache of the same
/// layout, then every array; on any error nothing is stored and the message names the file.
inline void load_sequence(kv_cache& cache, const std::filesystem::path& path, seq_id seq) {
  const sequence_file file = read_sequence_file(path);
  check_sequence_matches(file, layout_of(cache), path.string());
  try {
    cache.load_state(seq, file.state);
  } catch (const kvc::error& e) {
    detail::fail(path.string(), ": ", e.what());
  }
}

}  // namespace kvc::io
