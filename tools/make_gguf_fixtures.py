#!/usr/bin/env python3
"""Writes tests/data/gguf/types.gguf and fuzz seeds: one tensor per ggml type kvc dequantizes, with the values
the PyPI `gguf` package (an implementation independent of kvc) dequantizes them to, and
metadata of every GGUF value type, nested arrays included.

Dev-only (needs `pip install gguf numpy`); the output is committed and the tests never run this.
Usage: python tools/make_gguf_fixtures.py [OUT_DIR [SEED_DIR]]
       (defaults: tests/data/gguf, tests/fuzz/corpus/gguf)
"""
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V

# Offsets of the f16 scale fields inside one block, set to finite values so random blocks
# dequantize to finite numbers (every other byte stays random to cover all bit patterns).
SCALE_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}


def random_blocks(rng, qtype, rows, cols):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    nblocks = rows * cols // block
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    for off in SCALE_FIELDS[qtype]:
        scale = rng.uniform(-0.05, 0.05, size=nblocks).astype(np.float16)
        raw[:, off:off + 2] = scale.view(np.uint8).reshape(nblocks, 2)
    return raw.reshape(rows, cols // block * size)


def main():
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/gguf")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261128)
    w = gguf.GGUFWriter(str(out_dir / "types.gguf"), arch="llama")
    # Metadata of every value type (general.architecture is written by the writer).
    w.add_key_value("test.u8", 200, V.UINT8)
    w.add_key_value("test.i8", -100, V.INT8)
    w.add_key_value("test.u16", 60000, V.UINT16)
    w.add_key_value("test.i16", -30000, V.INT16)
    w.add_key_value("test.u32", 4000000000, V.UINT32)
    w.add_key_value("test.i32", -2000000000, V.INT32)
    w.add_key_value("test.u64", 2**63 + 5, V.UINT64)
    w.add_key_value("test.i64", -(2**62), V.INT64)
    w.add_key_value("test.f32", 0.25, V.FLOAT32)
    w.add_key_value("test.f64", -1.5e300, V.FLOAT64)
    w.add_key_value("test.bool", True, V.BOOL)
    w.add_key_value("test.string", "héllo GGUF", V.STRING)
    w.add_array("test.strings", ["a", "bc", ""])
    w.add_key_value("test.ints", [1, -2, 3], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("test.nested", [[1, 2], [3]], V.ARRAY, sub_type=V.ARRAY)

    rows, cols = 2, 512
    for qtype in [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q4_K, Q.Q5_K, Q.Q6_K]:
        raw = random_blocks(rng, qtype, rows, cols)
        expected = gguf.quants.dequantize(raw, qtype).astype(np.float32)
        assert expected.shape == (rows, cols)
        w.add_tensor(qtype.name.lower(), raw, raw_dtype=qtype)
        w.add_tensor(qtype.name.lower() + ".expected", expected)
    x = rng.standard_normal((3, 8)).astype(np.float32)
    w.add_tensor("f32", x)
    w.add_tensor("f16", x.astype(np.float16))
    w.add_tensor("f16.expected", x.astype(np.float16).astype(np.float32))
    bf = (x.view(np.uint32) >> 16).astype(np.uint16)  # truncated bf16 bit patterns
    w.add_tensor("bf16", bf, raw_dtype=Q.BF16)
    w.add_tensor("bf16.expected", (bf.astype(np.uint32) << 16).view(np.float32))
    w.add_tensor("i8", np.arange(-4, 4, dtype=np.int8))
    w.add_tensor("vec3d", rng.standard_normal((2, 3, 4)).astype(np.float32))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(out_dir / "types.gguf")

    # Small seeds for the GGUF fuzz target (tests/fuzz/corpus/gguf).
    seed_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "tests/fuzz/corpus/gguf")
    seed_dir.mkdir(parents=True, exist_ok=True)
    for name, qtype in [("q4_1", Q.Q4_1), ("q8_0", Q.Q8_0), ("q6_k", Q.Q6_K)]:
        s = gguf.GGUFWriter(str(seed_dir / f"{name}.gguf"), arch="llama")
        s.add_uint32("llama.block_count", 1)
        s.add_array("tokenizer.ggml.tokens", ["<s>", "a"])
        s.add_key_value("test.nested", [[1], [2, 3]], V.ARRAY, sub_type=V.ARRAY)
        block = gguf.GGML_QUANT_SIZES[qtype][0]
        s.add_tensor("blk.0.attn_q.weight", random_blocks(rng, qtype, 1, block), raw_dtype=qtype)
        s.add_tensor("norm", np.ones(4, dtype=np.float32))
        s.write_header_to_file()
        s.write_kv_data_to_file()
        s.write_tensors_to_file()
        s.close()
        print(seed_dir / f"{name}.gguf")


if __name__ == "__main__":
    main()
