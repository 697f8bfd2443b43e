#!/usr/bin/env python3
"""Writes tests/data/tokenizer/smollm2_goldens.json: Hugging Face `tokenizers` ids for the golden
corpus of tools/make_tokenizer_goldens.py, with SmolLM2-Instruct's tokenizer rebuilt from its GGUF
(vocabulary, merges and control tokens from tokenizer.ggml.*, and the pre-tokenizer SmolLM2's own
tokenizer.json names: Digits(individual_digits=True), then ByteLevel). kvc's GGUF tokenizer
(examples/qwen3/app/gguf_tokenizer.cpp) is checked against it when the GGUF is present.
Needs: pip install gguf tokenizers transformers jinja2   (the C++ build and tests never run Python).

Usage: python3 tools/make_gguf_tokenizer_goldens.py [--gguf models/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import tokenizers
from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from make_tokenizer_goldens import corpus  # noqa: E402  (the same strings as the Qwen3 goldens)

CONTROL = 3


def strings(reader, key):
    field = reader.fields[key]
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", type=Path, default=REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "tokenizer" / "smollm2_goldens.json")
    args = ap.parse_args()
    reader = GGUFReader(args.gguf)
    tokens = strings(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in strings(reader, "tokenizer.ggml.merges")]
    types_field = reader.fields["tokenizer.ggml.token_type"]
    types = [int(types_field.parts[i][0]) for i in types_field.data]

    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True) for t, ty in zip(tokens, types) if ty == CONTROL])

    cases = []
    for name, raw in corpus():
        text = raw.decode("utf-8", errors="replace")
        cases.append({"name": name, "hex": raw.hex(), "ids": tok.encode(text, add_special_tokens=False).ids})
    out = {"generator": {"script": "tools/make_gguf_tokenizer_goldens.py", "tokenizers": tokenizers.__version__,
                         "python": platform.python_version(), "gguf": args.gguf.name,
                         "gguf_sha256": hashlib.sha256(args.gguf.read_bytes()).hexdigest()},
           "invalid_utf8": "inputs with ill-formed UTF-8 are given to tokenizers as "
                           "bytes.decode('utf-8', errors='replace')",
           "cases": cases}
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
