#!/usr/bin/env python3
"""Checks kvc-qwen3's logits on a GGUF model against Hugging Face transformers loading the same
GGUF (transformers dequantizes with the `gguf` package and undoes llama.cpp's Q/K permutation
itself: an implementation independent of kvc's GGUF reader, import and forward pass).

Dev-only: needs `pip install torch transformers gguf safetensors numpy`.
Usage: python tools/compare_gguf_logits.py KVC_QWEN3_BINARY MODEL.gguf [--prompt TEXT]
       [--save-tokenizer] [--tokens-out FILE]
--save-tokenizer writes transformers' tokenizer.json for the GGUF into MODEL.gguf.kvc/ so that
kvc-qwen3 can read text; --tokens-out writes the prompt's ids (for kvc-qwen3 eval --tokens-file).
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

DEFAULT_PROMPT = ("The history of the Roman Empire spans many centuries. It began when Augustus became "
                  "the first emperor in 27 BC, and in the west it ended in 476 AD. During this time")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("gguf")
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--save-tokenizer", action="store_true")
    ap.add_argument("--tokens-out")
    a = ap.parse_args()
    gguf = Path(a.gguf).resolve()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if a.save_tokenizer:
        out = Path(str(gguf) + ".kvc")
        out.mkdir(exist_ok=True)
        tok.backend_tokenizer.save(str(out / "tokenizer.json"))
        print("tokenizer:", out / "tokenizer.json")
    ids = tok(a.prompt, add_special_tokens=False)["input_ids"]
    if a.tokens_out:
        Path(a.tokens_out).write_text(" ".join(map(str, ids)) + "\n")
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 torch_dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].double().numpy()

    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens.txt"
        tokens.write_text(" ".join(map(str, ids)))
        logits = Path(tmp) / "logits.safetensors"
        subprocess.run([a.binary, "eval", "--model", str(gguf), "--tokens-file", str(tokens),
                        "--context", str(len(ids)), "--baseline", "full:f32", "--logits-out", str(logits)],
                       check=True)
        ours = load_file(str(logits))["logits"].astype(np.float64)

    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    diff = np.abs(ours - ref)
    top1 = (ours.argmax(-1) == ref.argmax(-1)).mean()
    def logsm(x):
        x = x - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))
    p = logsm(ref)
    kl = (np.exp(p) * (p - logsm(ours))).sum(-1)
    print(f"tokens: {len(ids)}  vocab: {ref.shape[1]}")
    print(f"max |dlogit|: {diff.max():.3e}  mean |dlogit|: {diff.mean():.3e}  logit range: "
          f"[{ref.min():.2f}, {ref.max():.2f}]")
    print(f"top-1 agreement: {top1:.4f}  max KL(hf||kvc): {kl.max():.3e}")
    return 0 if top1 == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
