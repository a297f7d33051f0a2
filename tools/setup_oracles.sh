#!/usr/bin/env bash
# Creates tools/.venv (git-ignored) with the Python oracles used to (re)generate committed
# fixtures: transformers + torch (model), tiktoken (tokenizer), openai-harmony (chat format).
# CI never runs this; fixtures are committed.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q torch==2.15.0 transformers==5.23.0 tiktoken==0.14.0 openai-harmony==0.0.8 safetensors numpy
.venv/bin/python -c "import torch, transformers, tiktoken, openai_harmony; print('oracles:', 'torch', torch.__version__, 'transformers', transformers.__version__, 'tiktoken', tiktoken.__version__)"
