// The tokenizer and chat template a GGUF file carries (tokenizer.ggml.*, tokenizer.chat_template),
// written as the Hugging Face files kvc-qwen3 reads: tokenizer.json and tokenizer_config.json.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kvc/io/gguf.hpp"

namespace kvc::qwen3 {

/// The Hugging Face tokenizer.json equivalent of a GGUF's byte-level BPE tokenizer
/// (`tokenizer.ggml.model` = "gpt2"): the vocabulary and merges as stored, control tokens
/// (token_type 3) as special added tokens, user-defined ones (4) as plain added tokens, and the
/// normalizer and pre-tokenizer of `tokenizer.ggml.pre`: "default"/"gpt-2" (GPT-2 split),
/// "smollm" (each digit alone, then the GPT-2 split), "llama-bpe"/"llama3" (Llama-3 split),
/// "qwen2" (NFC, then the Qwen2/3 split). std::nullopt when the file has no tokenizer; kvc::error
/// naming `source` and the key for another tokenizer model or pre-tokenizer, or malformed arrays.
std::optional<nlohmann::json> gguf_to_hf_tokenizer(const kvc::io::gguf_header& header, std::string_view source);

/// The tokenizer_config.json equivalent: `chat_template` (tokenizer.chat_template), `bos_token`
/// and `eos_token` (the tokens of tokenizer.ggml.bos/eos_token_id), `add_bos_token`. std::nullopt
/// when the file has no tokenizer; kvc::error naming `source` for an id outside the vocabulary.
std::optional<nlohmann::json> gguf_to_hf_tokenizer_config(const kvc::io::gguf_header& header, std::string_view source);

/// Writes `out_dir/tokenizer.json` and `out_dir/tokenizer_config.json` from the GGUF's metadata
/// and returns true. Returns false, writing nothing, when the file has no tokenizer or one this
/// conversion does not support (the reason goes to stderr: the model still imports, and
/// `--tokenizer FILE` can supply one). kvc::error naming the file that cannot be written.
bool write_gguf_tokenizer(const kvc::io::gguf_file& file, const std::filesystem::path& out_dir);

}  // namespace kvc::qwen3
