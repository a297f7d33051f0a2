#!/usr/bin/env python3
"""Writes the golden fixtures of tests/data/golden/ from Hugging Face transformers (the oracle).

Run with the oracle venv (tools/setup_oracles.sh) after building the `gptoss` CLI:

    tools/.venv/bin/python tools/golden/make_fixtures.py --gptoss build-cpu/tools/cli/gptoss

Sections (all by default, or pick with --only):
  mxfp4  transformers' own convert_moe_packed_tensors on blocks covering every byte and every
         scale value -> mxfp4_decode.safetensors (our decode must match bit for bit).
  yarn   transformers' _compute_yarn_parameters for several rope configs -> yarn_tables.safetensors.
  models for each config in tests/data/golden/configs/: OUR generator writes the checkpoint
         (`gptoss make-checkpoint --config ... --seed ...`), transformers loads it (fp32, MXFP4
         dequantized, eager attention, CPU) and we record all-position logits and a 32-token
         greedy continuation per prompt, plus the sha256 of every checkpoint file so the C++
         test notices generator drift -> <config>.safetensors.

CI never runs this script; it only reads the committed fixtures.
"""
import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "golden")
NEW_TOKENS = 32

# Prompt lengths per config (each prompt is one sequence; two prompts = the batched case).
# Together they exercise: prompt > sliding window, positions > original_max_position_embeddings,
# top-k < experts, >= 4 layers, and two sequences of different lengths in one batch.
PROMPTS = {
    "swa_yarn": [60],
    "deep_gqa": [45],
    "mha_top1": [40],
    "batch2": [37, 70],
}
SEEDS = {"swa_yarn": 11, "deep_gqa": 22, "mha_top1": 33, "batch2": 44}


def versions():
    return {"torch": torch.__version__, "transformers": transformers.__version__}


def make_mxfp4():
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    rng = np.random.RandomState(1234)
    experts, rows, groups = 2, 64, 2  # 256 (row, group) pairs: one per scale value
    scales = rng.permutation(256).astype(np.uint8).reshape(experts, rows, groups)
    blocks = np.zeros((experts, rows, groups, 16), dtype=np.uint8)
    flat = blocks.reshape(-1, 16)
    flat[:16] = np.arange(256, dtype=np.uint8).reshape(16, 16)  # every byte once
    flat[16:] = rng.randint(0, 256, size=(flat.shape[0] - 16, 16), dtype=np.uint8)
    out = convert_moe_packed_tensors(torch.from_numpy(blocks), torch.from_numpy(scales),
                                     dtype=torch.float32)
    # HF returns [E, K, N] (transposed for x @ W); row n of ours is column n of theirs.
    expected = out.numpy()
    assert expected.shape == (experts, groups * 32, rows), expected.shape
    path = os.path.join(OUT, "mxfp4_decode.safetensors")
    save_file({"blocks": blocks, "scales": scales, "expected": np.ascontiguousarray(expected)},
              path, metadata={**versions(), "source": "convert_moe_packed_tensors(dtype=float32)"})
    print("wrote", path)


YARN_CASES = [
    # head_dim, theta, factor, original_max_position_embeddings, truncate
    (64, 150000.0, 32.0, 4096, False),  # gpt-oss
    (16, 150000.0, 32.0, 48, False),
    (16, 10000.0, 8.0, 32, True),
    (64, 150000.0, 32.0, 64, False),
    (32, 500000.0, 4.0, 128, True),
]


def make_yarn():
    from transformers import GptOssConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    tensors, cases = {}, []
    for i, (head_dim, theta, factor, orig, truncate) in enumerate(YARN_CASES):
        cfg = GptOssConfig(head_dim=head_dim, hidden_size=head_dim * 4, num_attention_heads=4,
                           num_key_value_heads=2, max_position_embeddings=int(orig * factor),
                           rope_parameters={"rope_type": "yarn", "rope_theta": theta,
                                            "factor": factor, "beta_fast": 32.0, "beta_slow": 1.0,
                                            "truncate": truncate,
                                            "original_max_position_embeddings": orig})
        inv_freq, scaling = ROPE_INIT_FUNCTIONS["yarn"](cfg)
        tensors[f"inv_freq_{i}"] = inv_freq.numpy().astype(np.float32)
        tensors[f"attention_scaling_{i}"] = np.array([scaling], dtype=np.float32)
        cases.append({"head_dim": head_dim, "theta": theta, "factor": factor,
                      "original_max_position_embeddings": orig, "truncate": truncate})
    path = os.path.join(OUT, "yarn_tables.safetensors")
    save_file(tensors, path, metadata={**versions(), "cases": json.dumps(cases)})
    print("wrote", path)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hf_model(ckpt_dir):
    from transformers import GptOssForCausalLM, Mxfp4Config

    model = GptOssForCausalLM.from_pretrained(
        ckpt_dir, dtype=torch.float32, attn_implementation="eager",
        experts_implementation="eager", quantization_config=Mxfp4Config(dequantize=True))
    model.eval()
    return model


@torch.no_grad()
def full_logits(model, ids):
    """All-position logits of one sequence in a single forward pass (no cache, no padding)."""
    out = model(input_ids=torch.tensor([ids]), use_cache=False)
    return out.logits[0].float().numpy()


# The golden test allows max|dlogit| <= TOLERANCE * max|logit|, so a top-2 gap wider than twice
# that cannot flip the argmax of a run that passes the logits check.
TOLERANCE = 1e-4


@torch.no_grad()
def greedy(model, prompt):
    """Greedy continuation by full recomputation, or None if some step has no clear argmax."""
    ids = list(prompt)
    for _ in range(NEW_TOKENS):
        row = full_logits(model, ids)[-1]
        order = np.argsort(-row, kind="stable")
        if row[order[0]] - row[order[1]] <= 2 * TOLERANCE * np.abs(row).max():
            return None
        ids.append(int(order[0]))
    # transformers' own generate (with its KV cache) must agree with the recomputation (up to
    # an early stop at the config's eos id).
    # (an explicit all-ones mask: otherwise generate() treats prompt tokens equal to pad_token_id
    # as left padding)
    x = torch.tensor([prompt])
    gen = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=NEW_TOKENS,
                         do_sample=False)
    got = gen[0].tolist()
    assert got == ids[:len(got)], "HF generate() and full recomputation disagree"
    return ids[len(prompt):]


def make_model(name, gptoss):
    config_path = os.path.join(OUT, "configs", name + ".json")
    with open(config_path) as f:
        vocab = json.load(f)["vocab_size"]
    seed = SEEDS[name]
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "ckpt")
        subprocess.run([gptoss, "make-checkpoint", "--config", config_path, "--seed", str(seed),
                        "--out", ckpt], check=True)
        files = sorted(os.listdir(ckpt))
        digests = {f: sha256(os.path.join(ckpt, f)) for f in files}
        model = hf_model(ckpt)
        rng = np.random.RandomState(seed)
        tensors = {}
        for i, length in enumerate(PROMPTS[name]):
            for attempt in range(20):  # deterministic: the next prompt of the same generator
                prompt = [int(t) for t in rng.randint(0, vocab, size=length)]
                tokens = greedy(model, prompt)
                if tokens is not None:
                    break
                print(f"{name} prompt {i}: near-tie in the greedy path, drawing another prompt")
            else:
                raise SystemExit(f"{name}: no prompt with a clear greedy path")
            logits = full_logits(model, prompt + tokens)
            tensors[f"prompt_{i}"] = np.array(prompt, dtype=np.int32)
            tensors[f"tokens_{i}"] = np.array(tokens, dtype=np.int32)
            tensors[f"logits_{i}"] = logits.astype(np.float32)
    # Everything the C++ test needs is a tensor (it reads fixtures with our Checkpoint reader);
    # the metadata repeats it for humans.
    tensors["seed"] = np.array([seed], dtype=np.int32)
    for f, digest in digests.items():
        tensors["sha256." + f] = np.frombuffer(bytes.fromhex(digest), dtype=np.uint8).copy()
    meta = {**versions(), "config": f"configs/{name}.json", "seed": str(seed),
            "num_prompts": str(len(PROMPTS[name])), "checkpoint_sha256": json.dumps(digests)}
    path = os.path.join(OUT, name + ".safetensors")
    save_file(tensors, path, metadata=meta)
    print("wrote", path, "files", digests)


def find_gptoss():
    hits = sorted(glob.glob(os.path.join(ROOT, "build*", "tools", "cli", "gptoss")))
    return hits[0] if hits else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="mxfp4,yarn,models")
    ap.add_argument("--gptoss", default=None, help="path of the built gptoss CLI")
    ap.add_argument("--models", default=",".join(PROMPTS), help="configs to (re)generate")
    args = ap.parse_args()
    torch.manual_seed(0)
    sections = args.only.split(",")
    os.makedirs(OUT, exist_ok=True)
    if "mxfp4" in sections:
        make_mxfp4()
    if "yarn" in sections:
        make_yarn()
    if "models" in sections:
        gptoss = args.gptoss or find_gptoss()
        if not gptoss or not os.path.exists(gptoss):
            sys.exit("build the gptoss CLI first and pass --gptoss PATH")
        for name in args.models.split(","):
            make_model(name, os.path.abspath(gptoss))


if __name__ == "__main__":
    main()
