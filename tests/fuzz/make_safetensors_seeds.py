#!/usr/bin/env python3
# Regenerates the small seed files in corpus/safetensors/ (dev-only; the files are committed).
import json
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")


def file_bytes(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes); data laid out in list order."""
    header, data, off = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write(name, content):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(content)


os.makedirs(HERE, exist_ok=True)
write("two_tensors.safetensors", file_bytes(
    [("model.embed_tokens.weight", "BF16", [2, 2], struct.pack("<4H", 0x3f80, 0xbf80, 0x4000, 0)),
     ("lm_head.weight", "F32", [2], struct.pack("<2f", 1.5, -2.25))],
    {"format": "pt"}))
write("scalar_and_empty.safetensors", file_bytes(
    [("s", "F16", [], struct.pack("<H", 0x3c00)), ("z", "BF16", [0, 3], b""),
     ("i", "I8", [3], b"\x01\xff\x7f")]))
write("many_dtypes.safetensors", file_bytes(
    [("b", "BOOL", [2], b"\x00\x01"), ("f4", "F4", [2], b"\x21"), ("f6", "F6_E2M3", [4], b"\x00\x00\x00"),
     ("u8", "U8", [1], b"\x09"), ("e4", "F8_E4M3", [1], b"\x38"), ("i16", "I16", [1], b"\x02\x00"),
     ("i32", "I32", [1], b"\x03\x00\x00\x00"), ("f64", "F64", [1], struct.pack("<d", 0.5)),
     ("c64", "C64", [1], struct.pack("<2f", 1, 2)), ("u64", "U64", [1], struct.pack("<Q", 7))],
    {"format": "pt", "note": "\u00e9\u4e2d"}))
write("empty_header.safetensors", file_bytes([]))
write("unpadded.safetensors", file_bytes([("x", "F32", [1, 1], struct.pack("<f", 3.0))], pad=False))
