#!/usr/bin/env python3
"""Writes the trained toy (train_toy.py's compact.pt) as a gpt-oss checkpoint in the HF layout.

    tools/.venv/bin/python tools/toy/export_toy.py [--compact tools/toy/scratch/compact.pt]
        [--out tools/toy/gptoss-toy]

Output: config.json + two safetensors shards + model.safetensors.index.json, with the tensor names, shapes and dtypes of the released
gpt-oss checkpoints (bf16 dense weights, MXFP4 expert blocks/scales as u8, vocab 201088). The
vocabulary-sized matrices are expanded from the compact training form: every token the data never
used gets the shared "unknown" embedding row and the shared lm_head row, so identical rows make up
almost all of both matrices (they cost next to nothing once git compresses them).

The expert blocks are re-derived from the frozen weights with the same quantizer that froze them,
and the script checks that transformers' decode of what it wrote gives those weights back exactly.
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toy_model as M  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


def export(compact_path, out_dir):
    ck = torch.load(compact_path, weights_only=False)
    vocab = ck["vocab"]
    model = M.ToyModel(len(vocab))
    model.load_state_dict(ck["state"])
    inner = model.inner
    used = torch.tensor(vocab)
    H = M.SHAPE["hidden_size"]

    def bf16(t):
        return t.detach().to(torch.bfloat16).contiguous()

    emb = inner.embed_tokens.weight.detach()
    full_emb = emb[-1].expand(M.VOCAB, H).clone()  # the shared unknown row everywhere ...
    full_emb[used] = emb[:-1]  # ... except the tokens the model knows
    head = model.head.detach()
    full_head = head[-1].expand(M.VOCAB, H).clone()
    full_head[used] = head[:-1]

    t = {"model.embed_tokens.weight": bf16(full_emb), "lm_head.weight": bf16(full_head),
         "model.norm.weight": bf16(inner.norm.weight)}
    for i, layer in enumerate(inner.layers):
        p = f"model.layers.{i}."
        a, mlp = layer.self_attn, layer.mlp
        t[p + "input_layernorm.weight"] = bf16(layer.input_layernorm.weight)
        t[p + "post_attention_layernorm.weight"] = bf16(layer.post_attention_layernorm.weight)
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            lin = getattr(a, proj)
            t[p + f"self_attn.{proj}.weight"] = bf16(lin.weight)
            t[p + f"self_attn.{proj}.bias"] = bf16(lin.bias)
        t[p + "self_attn.sinks"] = bf16(a.sinks)
        t[p + "mlp.router.weight"] = bf16(mlp.router.weight)
        t[p + "mlp.router.bias"] = bf16(mlp.router.bias)
        for proj in ("gate_up_proj", "down_proj"):
            w = getattr(mlp.experts, proj).detach()
            blocks, scales = M.quantize_mxfp4(w)
            # The weights were frozen at an MXFP4 round trip, so quantizing again is lossless.
            assert torch.equal(M.dequantize_mxfp4(blocks, scales), w), f"{p}{proj} not on grid"
            t[p + f"mlp.experts.{proj}_blocks"] = blocks
            t[p + f"mlp.experts.{proj}_scales"] = scales
            t[p + f"mlp.experts.{proj}_bias"] = bf16(getattr(mlp.experts, f"{proj}_bias"))

    os.makedirs(out_dir, exist_ok=True)
    cfg = M.config_dict()
    # gpt-oss stops on <|return|>, <|call|> and <|endoftext|> (its generation_config); listing
    # them in config.json makes both transformers and `gptoss generate` stop there.
    cfg["eos_token_id"] = [200002, 200012, 199999]
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    # Two shards + model.safetensors.index.json, as the released checkpoints are sharded: the
    # two vocabulary matrices are 51 MB each in bf16, and one 103 MB file would exceed the
    # 100 MB per-file limit of common git hosts.
    shards = {SHARDS[0]: {k: v for k, v in t.items() if k != "lm_head.weight"},
              SHARDS[1]: {"lm_head.weight": t["lm_head.weight"]}}
    for stale in ("model.safetensors",):
        if os.path.exists(os.path.join(out_dir, stale)):
            os.remove(os.path.join(out_dir, stale))
    weight_map = {}
    for name, tensors in shards.items():
        save_file(tensors, os.path.join(out_dir, name), metadata={"format": "pt"})
        weight_map.update({k: name for k in tensors})
    total = sum(v.numel() * v.element_size() for v in t.values())
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total},
                   "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")
    for name in os.listdir(out_dir):
        os.chmod(os.path.join(out_dir, name), 0o644)
    print(f"wrote {out_dir}: {len(t)} tensors, {len(vocab)} trained vocabulary rows")
    verify(model, vocab, out_dir)


@torch.no_grad()
def verify(model, vocab, out_dir):
    """transformers on the written checkpoint must compute what training computed: the full-vocab
    log-probabilities of the compact model (bf16 weights, MXFP4 experts) at every position of a
    sample chat, including one token the model never learned (it reads the unknown row)."""
    import toy_data as D
    from eval_toy import hf_model

    hf = hf_model(out_dir)
    prompt = D.render_prompt(D.header("medium", "2025-06-28", D.tool_description())
                             + [D.user("What's the weather in Port Kalville? \u2603")])
    index = {t: i for i, t in enumerate(vocab)}
    compact = torch.tensor([[index.get(t, len(vocab)) for t in prompt]])
    model.eval()
    model.bf16_forward = True
    ref = torch.log_softmax(model.compact_logits(model.hidden(compact)[0]), dim=-1)
    got = torch.log_softmax(hf(input_ids=torch.tensor([prompt])).logits[0].float(), dim=-1)
    used = torch.tensor(vocab)
    err_used = (got[:, used] - ref[:, :-1]).abs().max().item()
    # every unused token carries the shared logit: its log-prob is ref's lumped one minus log(V-U)
    unused = ref[:, -1] - model.log_unused
    err_unused = (got[:, -1] - unused).abs().max().item()
    print(f"verify: transformers vs training graph, max |d logprob| used {err_used:.2e}, "
          f"unused {err_unused:.2e} over {len(prompt)} positions")
    assert err_used < 1e-3 and err_unused < 1e-3, "exported checkpoint does not match training"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compact", default=os.path.join(HERE, "scratch", "compact.pt"))
    ap.add_argument("--out", default=os.path.join(HERE, "gptoss-toy"))
    args = ap.parse_args()
    export(args.compact, args.out)


if __name__ == "__main__":
    main()
