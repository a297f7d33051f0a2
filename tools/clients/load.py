#!/usr/bin/env python3
"""Load client for gptoss.v1.Inference.Generate: a bounded number of streaming requests at a
fixed concurrency, on loopback only. Reports requests/s, tokens/s and client-side
time-to-first-token percentiles (p50/p99), as text and as one JSON line.

    load.py --server 127.0.0.1:50051 --concurrency 16 --requests 64 --max-tokens 16

Bounded: at most --requests requests and --time-limit-s seconds (requests not started by then
are skipped and counted). Greedy by default, so runs are comparable.
"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gptoss_client  # noqa: E402

LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="127.0.0.1:50051")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--prompt", default="The history of the city begins with")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--time-limit-s", type=float, default=600.0)
    ap.add_argument("--request-timeout-s", type=float, default=300.0)
    ap.add_argument("--stub-dir", default=None)
    args = ap.parse_args()
    host = args.server.rsplit(":", 1)[0]
    if host not in LOOPBACK:
        ap.error("--server must be a loopback address (this tool is for local measurements)")
    if not (1 <= args.concurrency <= 1024 and 1 <= args.requests <= 100000):
        ap.error("--concurrency must be in [1, 1024] and --requests in [1, 100000]")

    client = gptoss_client.Client(args.server,
                                  args.stub_dir or tempfile.mkdtemp(prefix="gptoss_stubs_"))
    client.wait_serving(timeout=60)
    pb = client.pb
    lock = threading.Lock()
    next_index = [0]
    ttft, latency, tokens, errors = [], [], [0], []
    start = time.monotonic()
    deadline = start + args.time_limit_s

    def worker():
        while True:
            with lock:
                if next_index[0] >= args.requests or time.monotonic() > deadline:
                    return
                next_index[0] += 1
            req = pb.GenerateRequest(text=args.prompt)
            req.sampling.temperature = args.temperature
            req.stop.max_tokens = args.max_tokens
            t0 = time.monotonic()
            first = None
            n = 0
            try:
                for resp in client.stub.Generate(req, timeout=args.request_timeout_s):
                    if resp.HasField("chunk") and resp.chunk.token_ids:
                        if first is None:
                            first = time.monotonic() - t0
                        n += len(resp.chunk.token_ids)
            except client.grpc.RpcError as e:
                with lock:
                    errors.append("%s: %s" % (e.code().name, e.details()))
                continue
            with lock:
                if first is not None:
                    ttft.append(first)
                latency.append(time.monotonic() - t0)
                tokens[0] += n

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    done = len(latency)
    result = {
        "server": args.server, "concurrency": args.concurrency, "requests": done,
        "errors": len(errors), "skipped": args.requests - next_index[0],
        "max_tokens": args.max_tokens, "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(done / elapsed, 3) if elapsed > 0 else 0.0,
        "tokens_per_s": round(tokens[0] / elapsed, 2) if elapsed > 0 else 0.0,
        "ttft_p50_s": round(percentile(ttft, 50), 4), "ttft_p99_s": round(percentile(ttft, 99), 4),
        "latency_p50_s": round(percentile(latency, 50), 4),
        "latency_p99_s": round(percentile(latency, 99), 4),
    }
    print("requests %d (errors %d, skipped %d) in %.1f s at concurrency %d" %
          (done, len(errors), result["skipped"], elapsed, args.concurrency))
    print("  %.2f requests/s, %.1f tokens/s" % (result["requests_per_s"], result["tokens_per_s"]))
    print("  time to first token p50 %.3f s, p99 %.3f s" % (result["ttft_p50_s"],
                                                           result["ttft_p99_s"]))
    print("  request latency     p50 %.3f s, p99 %.3f s" % (result["latency_p50_s"],
                                                           result["latency_p99_s"]))
    for e in errors[:5]:
        print("  error:", e)
    print(json.dumps(result))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
