#!/usr/bin/env python3
"""Builds tiny random Qwen3 / Llama checkpoints and Hugging Face golden outputs for tests/model.

Dev-only (needs PyPI torch, transformers, safetensors, numpy); the build and the tests never run it.
Recipe: ../shared/research/qwen3.md section 6.2. Run from the repo root:

    python3 tools/make_qwen3_goldens.py [--out tests/data/qwen3]

For each config (T1 untied GQA with nh*d != H, T2 tied MQA, T3 YaRN, L1 Llama) it writes
  <name>_f32/   config.json + model.safetensors (one file, f32)
  <name>_bf16/  config.json + model.safetensors.index.json + >= 2 bf16 shards
  goldens/<name>.safetensors  f32 arrays (logits, per-layer intermediates, final norm, inv_freq)
and one manifest.json (token ids, shapes, library versions, sha256 of every file).
HF runs on CPU in f32 with attn_implementation="eager", deterministic, one thread.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import sys

import numpy as np
import safetensors
import safetensors.numpy
import safetensors.torch
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

VOCAB = 128
HF_TEST_IDS = [1, 306, 4658, 278, 6593, 310, 2834, 338]  # transformers' Qwen3 integration test ids

# name -> (family, config kwargs, sequence length, save per-layer intermediates)
CONFIGS = {
    "t1": ("qwen3", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=32, tie_word_embeddings=False,
                         max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6}), 33, True),
    "t2": ("qwen3", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                         num_key_value_heads=1, head_dim=16, tie_word_embeddings=True,
                         max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6}), 33, True),
    "t3": ("qwen3", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=32, tie_word_embeddings=False,
                         max_position_embeddings=1024,
                         rope_parameters={"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0,
                                          "original_max_position_embeddings": 256}), 300, False),
    "l1": ("llama", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, tie_word_embeddings=False, max_position_embeddings=2048,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), 33, True),
}

# Intermediates captured per layer, by module suffix; "attn_out" is o_proj's input.
OUT_HOOKS = ["input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
             "self_attn.q_norm", "self_attn.k_norm", "self_attn.o_proj", "mlp"]


def reinit(model, gen):
    """Weights that make norm bugs visible: linears N(0, 1/sqrt(fan_in)), embedding N(0,1), norms U(0.5,1.5)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))


def build(family, kwargs):
    common = dict(vocab_size=VOCAB, rms_norm_eps=1e-6, attention_bias=False, bos_token_id=1, eos_token_id=2)
    if family == "qwen3":
        cfg = Qwen3Config(**common, **kwargs, use_sliding_window=False, sliding_window=None,
                          max_window_layers=kwargs["num_hidden_layers"])
        cls = Qwen3ForCausalLM
    else:
        cfg = LlamaConfig(**common, **kwargs, mlp_bias=False)
        cls = LlamaForCausalLM
    cfg._attn_implementation = "eager"
    return cls(cfg).eval()


def capture(model, ids):
    """Teacher-forced f32 run: logits [T, V] and named intermediates [T, width]."""
    out, hooks = {}, []
    layers = model.model.layers

    def put(key, t):  # [1, T, ...] -> [T, width]
        t = t[0] if isinstance(t, tuple) else t
        out[key] = t.detach()[0].reshape(t.shape[1], -1).float()

    for i, layer in enumerate(layers):
        for suffix in OUT_HOOKS:
            if "_norm" in suffix and not hasattr(layer.self_attn, suffix.split(".")[-1]):
                continue  # Llama: no q_norm / k_norm
            mod = layer.get_submodule(suffix)
            name = suffix.split(".")[-1]
            hooks.append(mod.register_forward_hook(
                lambda m, a, r, i=i, name=name: put(f"layers.{i}.{name}", r)))
        hooks.append(layer.self_attn.o_proj.register_forward_pre_hook(
            lambda m, a, i=i: put(f"layers.{i}.attn_out", a[0])))
        hooks.append(layer.register_forward_hook(
            lambda m, a, r, i=i: put(f"layers.{i}.residual", r)))
    hooks.append(model.model.norm.register_forward_hook(lambda m, a, r: put("final_norm", r)))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
    for h in hooks:
        h.remove()
    out["logits"] = logits.detach().float()
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def count_shards(d):
    return sum(1 for f in os.listdir(d) if f.endswith(".safetensors"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/data/qwen3")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(os.path.join(args.out, "goldens"), exist_ok=True)

    manifest = {
        "generator": "tools/make_qwen3_goldens.py",
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__, "safetensors": safetensors.__version__,
                     "numpy": np.__version__},
        "settings": "CPU, f32, attn_implementation=eager, torch.use_deterministic_algorithms(True), 1 thread",
        "weights": "linears N(0,1/sqrt(fan_in)), embedding N(0,1), every RMSNorm weight U(0.5,1.5)",
        "arrays": {
            "logits": "[T, vocab] HF f32 run of the f32 checkpoint",
            "logits_bf16w": "[T, vocab] HF f32 run on the bf16 checkpoint's weights (upcast exactly)",
            "logits_hf_bf16": "[T, vocab] HF native bf16 run of the bf16 checkpoint (absent for t3)",
            "layers.<i>.<name>": "[T, width] intermediates of the f32 run (t3: residual only)",
            "residual_bf16w.<i>": "[T, hidden] residual after layer i, HF f32 on bf16 weights (not t3)",
            "final_norm": "[T, hidden]",
            "inv_freq": "[head_dim/2] model.model.rotary_emb.inv_freq",
        },
        "configs": {},
    }
    for ci, (name, (family, kwargs, seq_len, per_layer)) in enumerate(CONFIGS.items()):
        print(f"[{ci + 1}/{len(CONFIGS)}] {name}: building", flush=True)
        torch.manual_seed(1000 + ci)
        model = build(family, kwargs)
        reinit(model, torch.Generator().manual_seed(2000 + ci))
        gen = torch.Generator().manual_seed(3000 + ci)
        ids = [i % VOCAB for i in HF_TEST_IDS]
        ids += torch.randint(0, VOCAB, (seq_len - len(ids),), generator=gen).tolist()

        f32_dir = os.path.join(args.out, f"{name}_f32")
        bf16_dir = os.path.join(args.out, f"{name}_bf16")
        for d in (f32_dir, bf16_dir):
            shutil.rmtree(d, ignore_errors=True)
        model.save_pretrained(f32_dir, safe_serialization=True)
        if name == "t2":
            # Like the released Qwen3-0.6B file: tied, yet lm_head.weight is stored too.
            p = os.path.join(f32_dir, "model.safetensors")
            t = safetensors.torch.load_file(p)
            t["lm_head.weight"] = t["model.embed_tokens.weight"].clone()
            safetensors.torch.save_file(t, p, metadata={"format": "pt"})

        ref = capture(model, ids)
        arrays = {k: v.numpy().astype(np.float32) for k, v in ref.items()
                  if per_layer or not k.startswith("layers.") or k.endswith(".residual")}
        arrays["inv_freq"] = model.model.rotary_emb.inv_freq.detach().float().numpy()
        scaling = float(model.model.rotary_emb.attention_scaling)

        model_bf16 = model.to(torch.bfloat16)
        model_bf16.save_pretrained(bf16_dir, safe_serialization=True, max_shard_size="150KB")
        assert os.path.exists(os.path.join(bf16_dir, "model.safetensors.index.json")), "no shard index"
        assert count_shards(bf16_dir) >= 2, "bf16 checkpoint must have >= 2 shards"
        # Reload from disk as a user would (rotary inv_freq is recomputed in f32, not cast with the weights).
        cls = Qwen3ForCausalLM if family == "qwen3" else LlamaForCausalLM
        if name != "t3":
            native = cls.from_pretrained(bf16_dir, dtype=torch.bfloat16, attn_implementation="eager").eval()
            with torch.no_grad():
                arrays["logits_hf_bf16"] = native(input_ids=torch.tensor([ids]), use_cache=False) \
                    .logits[0].float().numpy()
        model_w = cls.from_pretrained(bf16_dir, dtype=torch.float32, attn_implementation="eager").eval()
        assert model_w.model.rotary_emb.inv_freq.dtype == torch.float32
        ref_w = capture(model_w, ids)
        arrays["logits_bf16w"] = ref_w["logits"].numpy()
        for i in range(kwargs["num_hidden_layers"] if per_layer else 0):
            arrays[f"residual_bf16w.{i}"] = ref_w[f"layers.{i}.residual"].numpy()

        gpath = os.path.join(args.out, "goldens", f"{name}.safetensors")
        safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in sorted(arrays.items())}, gpath)
        for r, _, fs in os.walk(args.out):
            for f in fs:
                os.chmod(os.path.join(r, f), 0o644)
        files = {}
        for d in (f32_dir, bf16_dir):
            for f in sorted(os.listdir(d)):
                files[os.path.relpath(os.path.join(d, f), args.out)] = sha256(os.path.join(d, f))
        files[os.path.relpath(gpath, args.out)] = sha256(gpath)
        manifest["configs"][name] = {
            "family": family, "f32_dir": f"{name}_f32", "bf16_dir": f"{name}_bf16",
            "goldens": f"goldens/{name}.safetensors", "tokens": ids,
            "num_layers": kwargs["num_hidden_layers"], "attention_scaling": scaling,
            "bf16_shards": count_shards(bf16_dir), "per_layer_intermediates": per_layer,
            "arrays": {k: list(v.shape) for k, v in sorted(arrays.items())}, "sha256": files,
        }
        print(f"    {len(ids)} tokens, {len(arrays)} arrays, {count_shards(bf16_dir)} bf16 shards", flush=True)

    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.out) for f in fs)
    print(f"wrote {args.out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
