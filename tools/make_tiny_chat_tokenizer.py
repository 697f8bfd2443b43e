#!/usr/bin/env python3
"""Writes the tiny tokenizer.json the text CLI tests use with the tiny checkpoints (vocab 128).

Dev-only (standard library); the build and the tests never run it. Run from the repo root:

    python3 tools/make_tiny_chat_tokenizer.py [--out tests/data/tokenizer/tiny_chat_tokenizer.json]

Every id of the tiny checkpoints' vocabulary [0, 128) is a token, so whatever the random model
generates decodes:
  0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|> (special; 1 and 2 are the checkpoints' bos/eos),
  3 <think>, 4 </think> (added, not special, as in Qwen3),
  5..127 the single bytes 5..127 (ASCII), byte-level spelled, id = byte value.
No merges: text encodes byte by byte, so a decoded reply encodes back to the same ids, which makes
the chat test's cache-reuse counts exact. The pre-tokenizer is Qwen2's (Split regex + ByteLevel).
"""

import argparse
import json
from pathlib import Path

QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
ADDED = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True), ("<think>", False), ("</think>", False)]
VOCAB = 128


def bytes_to_unicode():
    """GPT-2's byte -> printable character map, as the ByteLevel pre-tokenizer spells bytes."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data/tokenizer/tiny_chat_tokenizer.json")
    args = parser.parse_args()
    spell = bytes_to_unicode()
    vocab = {spell[b]: b for b in range(len(ADDED), VOCAB)}
    added = [{"id": i, "content": text, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": special} for i, (text, special) in enumerate(ADDED)]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": dict(sorted(vocab.items(), key=lambda kv: kv[1])), "merges": []},
    }
    out = Path(args.out)
    out.write_text(json.dumps(tokenizer, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(out)


if __name__ == "__main__":
    main()
