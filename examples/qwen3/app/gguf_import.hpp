// Converts a llama.cpp GGUF model (Llama or Qwen3 architecture) into a Hugging Face style
// checkpoint directory (config.json + model.safetensors) the reference model loads.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "kvc/core/dtype.hpp"
#include "kvc/io/gguf.hpp"

namespace kvc::qwen3 {

/// The HF config.json equivalent of a GGUF file's `general.architecture` and `<arch>.*` keys
/// (model_type, sizes, head counts, rope theta, rms eps, bos/eos, tie_word_embeddings when the
/// file has no `output.weight`). Throws kvc::error naming the file and the missing key.
nlohmann::json gguf_to_hf_config(const kvc::io::gguf_file& file);

/// The HF tensor name of a GGUF tensor name (`blk.3.attn_q.weight` ->
/// `model.layers.3.self_attn.q_proj.weight`, `token_embd.weight` -> `model.embed_tokens.weight`,
/// ...); throws kvc::error for names the reference model has no use for.
std::string gguf_to_hf_name(const std::string& gguf_name);

/// Undoes llama.cpp's Q/K row permutation for Llama checkpoints (convert_hf_to_gguf stores q_proj
/// and k_proj rows of each head interleaved as (d/2, 2) for rope in "normal" mode; HF rotates
/// halves). w // [heads * head_dim, cols] row-major, rows reordered in place.
void unpermute_qk_rows(float* w, int heads, int head_dim, std::int64_t cols);

/// Writes `out_dir/config.json`, `out_dir/model.safetensors` (every tensor dequantized to
/// `storage`: f32 keeps the GGUF values exactly, bf16 rounds them) and the tokenizer files of
/// write_gguf_tokenizer. Llama q/k weights are un-permuted. Creates out_dir. Throws kvc::error naming the file and tensor at fault.
void import_gguf(const std::filesystem::path& gguf_path, const std::filesystem::path& out_dir,
                 kvc::dtype storage = kvc::dtype::f32);

/// For a path ending in `.gguf`: the directory `<path>.kvc` holding its import, made by
/// import_gguf on first use (or when older than the GGUF file), with the tokenizer.json and
/// chat_template.jinja of its metadata (write_gguf_tokenizer). Other paths are returned as is.
std::filesystem::path resolve_model_path(const std::filesystem::path& path);

}  // namespace kvc::qwen3
