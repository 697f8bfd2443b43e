// Sequence files: one sequence's stored form in every layer as a safetensors file, validated on
// load (kvc/saved_sequence.hpp saves and loads a kv_cache's sequences with it).
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/core/layer_shape.hpp"
#include "kvc/core/sequence_state.hpp"

namespace kvc::io {

/// The format tag in a sequence file's metadata.
inline constexpr std::string_view sequence_format = "kvc.sequence/1";

/// What a sequence file records of the cache it was saved from, and checks on load.
struct sequence_layout {
  layer_shape shape{};
  std::vector<std::string> specs;  // one per layer
};

/// A parsed sequence file: its metadata (format, layers, shape, layer specs, tokens, checksum)
/// and its arrays.
struct sequence_file {
  std::map<std::string, std::string> metadata;
  sequence_state state;
};

/// The bytes of a sequence file for `state` saved from a cache laid out as `layout` (recorded in
/// the metadata), with an FNV-1a 64-bit checksum over every array's name, type, shape and bytes.
std::vector<std::byte> serialize_sequence(const sequence_layout& layout, const sequence_state& state);

/// Parses sequence-file bytes: a valid safetensors file, the format tag, and a checksum that
/// matches the arrays (a truncated or altered file is rejected). Throws kvc::error prefixed
/// with `source`, naming what is wrong. `verify_checksum = false` skips only the checksum (the
/// fuzz target uses it to reach the array checks behind it).
sequence_file parse_sequence_bytes(std::span<const std::byte> bytes, std::string_view source = "<memory>",
                                   bool verify_checksum = true);

/// Checks that a parsed file was saved from a cache laid out as `layout` (layer count, shape,
/// each layer's spec); throws naming the first difference.
void check_sequence_matches(const sequence_file& file, const sequence_layout& layout, std::string_view source);

/// Writes a sequence file (kvc::error naming the file on failure).
void write_sequence_file(const std::filesystem::path& path, const sequence_layout& layout, const sequence_state& state);
/// Reads and parses a sequence file (kvc::error naming the file and the problem).
sequence_file read_sequence_file(const std::filesystem::path& path);

}  // namespace kvc::io
