#!/usr/bin/env python3
"""Times kvc's Qwen3 tokenizer (kvc-bench-tokenizer) and Hugging Face `tokenizers` on the same document.

The C++ benchmark writes its deterministic ~100k-token document (--dump-document); this script encodes
that exact text with `tokenizers` (checking the ids are identical), then runs the C++ benchmark, and
prints (or, with --write, writes) a Markdown summary for bench/results/tokenizer.md.
Needs: pip install tokenizers.

Usage: python3 tools/bench_tokenizer_hf.py --bench BUILD/examples/qwen3/text/kvc-bench-tokenizer
                                           [--shared ../shared] [--reps 10] [--write bench/results/tokenizer.md]
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parent.parent


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, required=True, help="the kvc-bench-tokenizer executable")
    ap.add_argument("--shared", type=Path, default=REPO / ".." / "shared")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--write", type=Path, help="write the Markdown summary here")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    tok_json = args.shared / "data" / "qwen3" / "tokenizer.json"

    with tempfile.TemporaryDirectory() as tmp:
        doc_path = Path(tmp) / "document.txt"
        subprocess.run([str(args.bench), "--tokenizer", str(tok_json), "--dump-document", str(doc_path)], check=True)
        doc = doc_path.read_bytes().decode("utf-8")  # bytes, so "\r" is not turned into "\n"
        kvc_ids = json.loads((Path(str(doc_path) + ".ids.json")).read_text())

        hf = Tokenizer.from_file(str(tok_json))
        hf_ids = hf.encode(doc, add_special_tokens=False).ids  # also warms HF's word cache
        identical = hf_ids == kvc_ids
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            hf.encode(doc, add_special_tokens=False)
            times.append(time.perf_counter() - t0)
        hf_cold = []
        for _ in range(3):
            fresh = Tokenizer.from_file(str(tok_json))
            t0 = time.perf_counter()
            fresh.encode(doc, add_special_tokens=False)
            hf_cold.append(time.perf_counter() - t0)

        out = subprocess.run([str(args.bench), "--tokenizer", str(tok_json), "--benchmark_format=json"],
                             capture_output=True, text=True, check=True).stdout
    bench = {b["name"]: b for b in json.loads(out)["benchmarks"]}

    n = len(hf_ids)
    hf_warm_tps = n / statistics.median(times)
    hf_cold_tps = n / statistics.median(hf_cold)
    kvc_warm_tps = bench["bm_encode_warm"]["items_per_second"]
    kvc_cold_tps = bench["bm_encode_cold/iterations:3"]["items_per_second"]
    kvc_decode_tps = bench["bm_decode"]["items_per_second"]
    kvc_load_ms = bench["bm_load/iterations:2"]["real_time"]
    threads = 1
    lines = [
        "# Tokenizer speed: kvc::qwen3::tokenizer vs Hugging Face tokenizers",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {cpu_model()}, 2 cores (shared with other jobs), {threads} thread per encoder",
        "- Command: `python3 tools/bench_tokenizer_hf.py --bench <build>/examples/qwen3/text/kvc-bench-tokenizer`"
        " (Release, -march=native)",
        f"- Document: {len(doc.encode('utf-8')):,} bytes, {n:,} Qwen3 tokens, generated deterministically by"
        " kvc-bench-tokenizer (made-up words + golden corpus strings).",
        f"- 1-minute load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (other jobs on the"
        " same 2 cores slow both encoders, HF more than kvc in these runs; compare runs made at similar load)",
        f"- Ids identical to HF on the whole document: **{'yes' if identical else 'NO'}**",
        f"- Versions: tokenizers {tokenizers.__version__}; HF timed from Python, one `encode` call on the whole"
        " string (median of the repetitions).",
        "",
        "| encode | kvc (C++) tokens/s | HF tokenizers tokens/s | kvc / HF |",
        "|---|---:|---:|---:|",
        f"| warm word cache (repeat runs) | {kvc_warm_tps:,.0f} | {hf_warm_tps:,.0f} | {kvc_warm_tps / hf_warm_tps:.1f}x |",
        f"| cold (fresh tokenizer) | {kvc_cold_tps:,.0f} | {hf_cold_tps:,.0f} | {kvc_cold_tps / hf_cold_tps:.1f}x |",
        "",
        f"kvc decode: {kvc_decode_tps:,.0f} tokens/s; kvc tokenizer.json load: {kvc_load_ms:.0f} ms.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)
    if not identical:
        raise SystemExit("kvc and HF ids differ on the benchmark document")


if __name__ == "__main__":
    main()
