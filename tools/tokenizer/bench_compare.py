#!/usr/bin/env python3
"""Encode throughput of gptoss-tokenizer-bench next to tiktoken's, on the same corpus, same run.

Both are single-threaded and timed in CPU time (process_time for tiktoken; Google Benchmark's
default CPU-time rates for ours), so a busy machine skews both alike. tiktoken is called the way
applications call it: Encoding.encode_ordinary(text), once per corpus case.
Usage: tools/.venv/bin/python tools/tokenizer/bench_compare.py --bench BUILD/tools/bench/gptoss-tokenizer-bench
           [--corpus tests/data/tokenizer/corpus.jsonl] [--min-time 2]
"""
import argparse
import json
import pathlib
import platform
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from make_fixtures import load_encoding  # noqa: E402

SETS = {"all": lambda s: True, "varied": lambda s: s != "long", "natural": lambda s: s in ("prose", "code"),
        "long_runs": lambda s: s == "long"}


def corpus_sets(path):
    sets = {k: [] for k in SETS}
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        text = r["text"] if "text" in r else r["repeat"] * r["count"]
        section = r["name"].split("/")[0]
        for k, keep in SETS.items():
            if keep(section):
                sets[k].append(text)
    return sets


def time_tiktoken(enc, texts, min_time):
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    rounds, tokens, start = 0, 0, time.process_time()
    while True:
        for t in texts:
            tokens += len(enc.encode_ordinary(t))
        rounds += 1
        elapsed = time.process_time() - start
        if elapsed >= min_time and rounds >= 1:
            return n_bytes * rounds / elapsed, tokens / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--corpus", default=str(REPO / "tests/data/tokenizer/corpus.jsonl"))
    ap.add_argument("--min-time", type=float, default=2.0)
    args = ap.parse_args()
    sets = corpus_sets(args.corpus)
    enc = load_encoding()
    ours = subprocess.run([args.bench, "--benchmark_format=json", "--benchmark_filter=BM_Encode",
                           f"--benchmark_min_time={args.min_time}"],
                          env={"GPTOSS_TOKENIZER_CORPUS": args.corpus}, check=True,
                          capture_output=True, text=True)
    results = {b["name"].split("/", 1)[1]: b for b in json.loads(ours.stdout)["benchmarks"]}
    import tiktoken
    print(f"corpus {args.corpus}: " + ", ".join(
        f"{k} {len(v)} cases / {sum(len(t.encode()) for t in v) / 1e6:.2f} MB" for k, v in sets.items()))
    print(f"machine: {platform.machine()}, {platform.processor() or platform.platform()}; single thread, CPU time")
    print(f"{'set':<10} {'gptoss MB/s':>12} {'tiktoken MB/s':>14} {'ratio':>7} {'gptoss Mtok/s':>14} {'tiktoken Mtok/s':>16}")
    for k, texts in sets.items():
        tk_bytes, tk_tokens = time_tiktoken(enc, texts, args.min_time)
        b = results[k]
        our_bytes, our_tokens = b["bytes_per_second"], b["items_per_second"]
        print(f"{k:<10} {our_bytes / 1e6:>12.2f} {tk_bytes / 1e6:>14.2f} {our_bytes / tk_bytes:>6.2f}x "
              f"{our_tokens / 1e6:>14.3f} {tk_tokens / 1e6:>16.3f}")
    print(f"(tiktoken {tiktoken.__version__}; 1 MB = 10^6 bytes of UTF-8 input)")


if __name__ == "__main__":
    main()
