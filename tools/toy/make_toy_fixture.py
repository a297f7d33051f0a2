#!/usr/bin/env python3
"""Writes tests/data/golden/toy.safetensors: Hugging Face transformers on the committed toy
checkpoint (tools/toy/gptoss-toy), the oracle for a golden test of our engine on a real,
trained model with the full o200k vocabulary.

    tools/.venv/bin/python tools/toy/make_toy_fixture.py

Same oracle as tools/golden/make_fixtures.py (its hf_model(): fp32, MXFP4 dequantized, eager),
same rules (greedy by full recomputation, checked against HF's cached generate(); every step's
top-2 gap wider than twice the test tolerance), but the checkpoint is the committed trained one,
not one our generator writes, and the logits keep only the columns that can differ: every token
the toy was trained on plus one untrained token (all untrained tokens share one lm_head row, so
one column stands for all of them). Full [positions, 201088] logits would be ~150 MB.

Tensors: prompt_0 [P] I32 (a rendered harmony chat: the get_weather tool declared, low effort),
tokens_0 [T] I32 (HF greedy continuation up to and including its stop id <|call|>),
logit_ids [K] I32 (the stored columns, ascending), logits_0 [P+T, K] F32 (one forward pass over
prompt + continuation), sha256.<file> [32] U8 for every file of the checkpoint.
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "golden"))
import make_fixtures as G  # noqa: E402  (the golden oracle: hf_model, full_logits, TOLERANCE)
import toy_data as D  # noqa: E402

CKPT = os.path.join(HERE, "gptoss-toy")
OUT = os.path.join(ROOT, "tests", "data", "golden", "toy.safetensors")
STOP = {200002, 200012, 199999}
MAX_NEW = 96


@torch.no_grad()
def greedy_to_stop(model, prompt):
    ids = list(prompt)
    for _ in range(MAX_NEW):
        row = G.full_logits(model, ids)[-1]
        order = np.argsort(-row, kind="stable")
        if row[order[0]] - row[order[1]] <= 2 * G.TOLERANCE * np.abs(row).max():
            raise SystemExit("near-tie in the greedy path: pick another prompt")
        ids.append(int(order[0]))
        if ids[-1] in STOP:
            break
    x = torch.tensor([prompt])
    gen = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=MAX_NEW,
                         do_sample=False, eos_token_id=sorted(STOP), pad_token_id=199999)
    assert gen[0].tolist() == ids, "HF generate() and full recomputation disagree"
    return ids[len(prompt):]


def main():
    torch.manual_seed(0)
    model = G.hf_model(CKPT)
    # A city from the held-out set (never in training): the continuation copies it.
    city = D.splits()["cities"][0]
    prompt = D.render_prompt(D.header("low", "2026-03-14", D.tool_description())
                             + [D.user(f"What's the weather in {city}?")])
    tokens = greedy_to_stop(model, prompt)
    logits = G.full_logits(model, prompt + tokens)
    head = model.lm_head.weight
    trained = (head != head[-1]).any(dim=1)
    trained[-1] = True  # one untrained column (the last id, a reserved special token)
    cols = torch.nonzero(trained).flatten().numpy()
    digests = {f: G.sha256(os.path.join(CKPT, f)) for f in sorted(os.listdir(CKPT))}
    tensors = {
        "prompt_0": np.array(prompt, dtype=np.int32),
        "tokens_0": np.array(tokens, dtype=np.int32),
        "logit_ids": cols.astype(np.int32),
        "logits_0": np.ascontiguousarray(logits[:, cols]).astype(np.float32),
    }
    for f, digest in digests.items():
        tensors["sha256." + f] = np.frombuffer(bytes.fromhex(digest), dtype=np.uint8).copy()
    meta = {**G.versions(), "checkpoint": "tools/toy/gptoss-toy",
            "completion": D.ENC.decode(tokens), "checkpoint_sha256": json.dumps(digests)}
    save_file(tensors, OUT, metadata=meta)
    print(f"wrote {OUT}: prompt {len(prompt)}, continuation {len(tokens)} "
          f"({D.ENC.decode(tokens)!r}), {len(cols)} logit columns")


if __name__ == "__main__":
    main()
