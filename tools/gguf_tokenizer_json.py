#!/usr/bin/env python3
"""Writes a Hugging Face tokenizer.json for a GGUF model whose tokenizer is GPT-2 style byte-level
BPE (tokenizer.ggml.model = gpt2), from the GGUF's own vocabulary, merges and token types, so that
kvc-qwen3 --text / eval / search-plan can tokenize text for it. Dev-only (needs the PyPI packages
`gguf` and `tokenizers`); kvc's build and tests never run it.

The pre-tokenizer is chosen from tokenizer.ggml.pre: `smollm` (SmolLM2) splits digits one by one
before the GPT-2 byte-level split, as the model's Hugging Face tokenizer does.

Usage: python tools/gguf_tokenizer_json.py MODEL.gguf OUT/tokenizer.json
"""
import sys

from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

CONTROL = 3  # llama.cpp's token type of special tokens


def strings(reader, key):
    field = reader.fields[key]
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def scalar(reader, key):
    field = reader.fields[key]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    reader = GGUFReader(sys.argv[1])
    if scalar(reader, "tokenizer.ggml.model") != "gpt2":
        sys.exit("only byte-level BPE (tokenizer.ggml.model = gpt2) is supported")
    pre = scalar(reader, "tokenizer.ggml.pre") if "tokenizer.ggml.pre" in reader.fields else "default"
    tokens = strings(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in strings(reader, "tokenizer.ggml.merges")]
    types_field = reader.fields["tokenizer.ggml.token_type"]
    types = [int(types_field.parts[i][0]) for i in types_field.data]

    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":
        # each digit on its own (what Digits(individual_digits=True) does), written as a Split,
        # which kvc's tokenizer reads
        digits = pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated")
        tok.pre_tokenizer = pre_tokenizers.Sequence([digits, byte_level])
    elif pre in ("default", "gpt-2"):
        tok.pre_tokenizer = byte_level
    else:
        sys.exit(f"tokenizer.ggml.pre '{pre}' is not known to this script")
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True) for t, ty in zip(tokens, types) if ty == CONTROL])
    tok.save(sys.argv[2])
    print(f"{sys.argv[2]}: {len(tokens)} tokens, {len(merges)} merges, pre-tokenizer '{pre}'")


if __name__ == "__main__":
    main()
