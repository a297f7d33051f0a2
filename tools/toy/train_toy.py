#!/usr/bin/env python3
"""Trains the toy gpt-oss (tools/toy/README.md) on generated harmony chats; CPU, minutes.

The network IS transformers' GptOssModel (tiny GptOssConfig, fp32, eager attention with sinks,
alternating sliding/full layers, YaRN, clamped SwiGLU experts), so the exported checkpoint means
exactly what Hugging Face computes. Only the two vocabulary-sized matrices are trained in a
compact form, because o200k has 201088 rows and the data uses a few hundred of them:

  * input: a compact embedding with one row per token that occurs in the data plus one shared
    "unknown" row, which every other token id maps to (exported into all unused rows);
  * output: one lm_head row per used token plus ONE shared row that stands for all V - U unused
    tokens. Their V - U identical logits enter the softmax as shared + log(V - U), so the loss is
    the exact full-vocabulary cross entropy; the model learns to keep unused tokens down and never
    emits a token it was not trained on. Identical rows compress to almost nothing in git.

Phases: (1) fp32 training; (2) the experts are quantized to MXFP4 (export_toy.quantize_mxfp4,
the exact inverse of transformers' convert_moe_packed_tensors) and frozen at their dequantized
values while the rest is fine-tuned, with every dense weight rounded to bf16 in the forward pass
(straight-through), so that the exported bf16 + MXFP4 checkpoint is what was trained.

Usage: tools/.venv/bin/python tools/toy/train_toy.py [--steps N] [--threads 1] [--out DIR]
Writes DIR/compact.pt (weights + vocabulary) and appends progress to tools/toy/scratch/progress.txt.
"""
import argparse
import json
import math
import os
import random
import sys
import time

THREADS = "1"
for i, a in enumerate(sys.argv):  # before torch is imported: its thread pools read these
    if a == "--threads" and i + 1 < len(sys.argv):
        THREADS = sys.argv[i + 1]
os.environ.setdefault("OMP_NUM_THREADS", THREADS)
os.environ.setdefault("MKL_NUM_THREADS", THREADS)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toy_data as D  # noqa: E402
import toy_model as M  # noqa: E402

SCRATCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scratch")  # git-ignored
PROGRESS = os.path.join(SCRATCH, "progress.txt")


def log(msg):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    os.makedirs(SCRATCH, exist_ok=True)
    with open(PROGRESS, "a") as f:
        f.write(line + "\n")


def build_vocab(gen, n):
    """Every token of n drawn examples except those of random-vocabulary junk prompts (which
    stay unknown on purpose), plus the arithmetic numbers 0..198 and all signs, so that no
    held-out question can contain a number the model has no row for."""
    used = set()
    for _ in range(n):
        ex = gen.example()
        used |= set(ex["completion"])
        if ex["task"] != "fallback":
            used |= set(ex["prompt"])
    for v in range(-99, 199):
        used |= set(D.tokens(f" {v}")) | set(D.tokens(f"{v}"))
    # Every piece of every city name (held-out ones are recombinations of these pieces).
    for name in D.city_pool() + D.REAL_CITIES:
        used |= set(D.tokens(" " + name)) | set(D.tokens(D.json.dumps({"city": name})))
    return sorted(used)


def from_checkpoint(path):
    """The compact model and vocabulary of an exported checkpoint (tools/toy/gptoss-toy): the used
    tokens are the rows that differ from the shared ones, and the experts come back from MXFP4."""
    from eval_toy import hf_model
    hf = hf_model(path)
    emb, head = hf.model.embed_tokens.weight.detach(), hf.lm_head.weight.detach()
    shared = head[-1]  # the last id is a reserved special token that no data uses
    vocab = torch.nonzero((head != shared).any(dim=1)).flatten().tolist()
    model = M.ToyModel(len(vocab))
    inner = {k: v for k, v in hf.model.state_dict().items() if "embed_tokens" not in k}
    missing, unexpected = model.inner.load_state_dict(inner, strict=False)
    assert missing == ["embed_tokens.weight"] and not unexpected, (missing, unexpected)
    with torch.no_grad():
        model.inner.embed_tokens.weight.copy_(torch.cat([emb[vocab], emb[-1:]]))
        model.head.copy_(torch.cat([head[vocab], shared[None]]))
    return model, vocab


class Batches:
    """Draws examples, maps ids to the compact vocabulary, groups similar lengths (less padding)."""

    def __init__(self, gen, vocab, batch):
        self.gen, self.batch = gen, batch
        self.index = {t: i for i, t in enumerate(vocab)}
        self.unk = len(vocab)

    def compact(self, ids):
        return [self.index.get(t, self.unk) for t in ids]

    def __iter__(self):
        while True:
            pool = [self.gen.example() for _ in range(self.batch * 8)]
            pool.sort(key=lambda e: len(e["prompt"]) + len(e["completion"]))
            chunks = [pool[i:i + self.batch] for i in range(0, len(pool), self.batch)]
            random.Random(len(pool[0]["prompt"])).shuffle(chunks)
            for chunk in chunks:
                yield self.collate(chunk)

    def collate(self, exs):
        T = max(len(e["prompt"]) + len(e["completion"]) for e in exs)
        ids = torch.full((len(exs), T), self.unk, dtype=torch.long)
        # target[b, t] = compact id of token t+1 where token t+1 is part of the completion, else -1
        target = torch.full((len(exs), T), -1, dtype=torch.long)
        for b, e in enumerate(exs):
            seq = self.compact(e["prompt"] + e["completion"])
            ids[b, :len(seq)] = torch.tensor(seq)
            p = len(e["prompt"])
            target[b, p - 1:len(seq) - 1] = torch.tensor(seq[p:])
        return ids, target


def loss_fn(model, ids, target):
    h = model.hidden(ids)  # [B, T, H] after the final norm
    sel = target >= 0
    logits = model.compact_logits(h[sel])
    return F.cross_entropy(logits, target[sel])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--quant-steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=50.0, help="stop phase 1 early at this budget")
    ap.add_argument("--quant-minutes", type=float, default=30.0,
                    help="stop phase 2 early at this budget")
    ap.add_argument("--resume", default=None,
                    help="continue from a compact.pt (its vocabulary and weights)")
    ap.add_argument("--init", default=None,
                    help="continue from an exported checkpoint directory (tools/toy/gptoss-toy)")
    ap.add_argument("--focus", type=float, default=0.0,
                    help="extra probability of drawing arithmetic / tool-call examples")
    ap.add_argument("--fresh", type=float, default=0.0,
                    help="share of city names drawn new for each example (toy_data.Generator)")
    ap.add_argument("--real", type=float, default=0.0,
                    help="share of city names drawn from toy_data.REAL_CITIES")
    ap.add_argument("--out", default=SCRATCH)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    held = D.splits()
    if args.resume:
        ck = torch.load(args.resume, weights_only=False)
        vocab = ck["vocab"]
        model = M.ToyModel(len(vocab))
        model.load_state_dict(ck["state"])
        log(f"resumed from {args.resume} ({ck['train_seconds']:.0f}s of training)")
        t0 -= ck["train_seconds"]  # report the cumulative training time
    elif args.init:
        model, vocab = from_checkpoint(args.init)
        log(f"initialized from {args.init}")
    else:
        vocab = build_vocab(D.Generator(10_000 + args.seed, held), 20000)
        model = M.ToyModel(len(vocab))
    log(f"vocab: {len(vocab)} used tokens of {M.VOCAB}")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} trainable parameters (compact), config {json.dumps(M.SHAPE)}")
    batches = iter(Batches(D.Generator(args.seed, held, args.focus, args.fresh, args.real), vocab, args.batch))

    path = os.path.join(args.out, "compact.pt")

    def save():
        torch.save({"state": model.state_dict(), "vocab": vocab, "shape": M.SHAPE,
                    "train_seconds": time.time() - t0, "args": vars(args)}, path)

    def run(steps, lr, params, phase, deadline=None):
        opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
        warm = min(100, steps // 10)
        ema, start = None, time.time()
        for step in range(steps):
            # linear warmup, then cosine down to 5% of the peak
            f = (step + 1) / warm if step < warm else \
                0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))
            for g in opt.param_groups:
                g["lr"] = lr * f
            ids, target = next(batches)
            loss = loss_fn(model, ids, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
            if step % 50 == 0 or step == steps - 1:
                log(f"{phase} step {step}/{steps} loss {loss.item():.4f} ema {ema:.4f} "
                    f"lr {lr * f:.2e} elapsed {time.time() - t0:.0f}s")
            if step % 200 == 199:
                save()  # a run stopped early leaves its latest weights
            if deadline and time.time() - start > deadline:
                log(f"{phase}: time budget reached at step {step}")
                break

    model.train()
    for p in model.parameters():  # (a resumed model has frozen experts; phase 1 trains all)
        p.requires_grad_(True)
    run(args.steps, args.lr, list(model.parameters()), "fp32",
        deadline=args.minutes * 60)
    # Phase 2: MXFP4 experts (frozen at their dequantized values), bf16 dense weights.
    model.quantize_experts()
    model.bf16_forward = True
    params = [p for n, p in model.named_parameters() if "experts" not in n or "bias" in n]
    run(args.quant_steps, args.lr / 4, params, "mxfp4", deadline=args.quant_minutes * 60)
    model.bf16_forward = False
    save()
    log(f"saved {path} after {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
