#!/usr/bin/env python3
"""Load client for gptoss serve: a bounded number of streaming requests at a fixed concurrency,
on loopback only. Reports requests/s, tokens/s and client-side time-to-first-token percentiles
(p50/p99), as text and as one JSON line.

    load.py --server 127.0.0.1:50051 --concurrency 16 --requests 64 --max-tokens 16
    load.py --api compare --server 127.0.0.1:50051 --http 127.0.0.1:8000 --concurrency 64

--api grpc (default): gptoss.v1.Inference.Generate on --prompt. --api grpc-chat: the Chat rpc;
--api http-chat: POST /v1/chat/completions with stream=true on --http; both ask --question, with
the reasoning streamed, and count the tokens the server reports in its usage. --api compare runs
grpc-chat and http-chat alternately for --rounds rounds each against the same server and prints
the HTTP/gRPC ratios of tokens/s and TTFT (medians over the rounds).

Bounded: at most --requests requests and --time-limit-s seconds (requests not started by then
are skipped and counted). Greedy by default, so runs are comparable.
"""
import argparse
import http.client
import json
import statistics
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
    ap.add_argument("--prompt-repeat", type=int, default=1,
                    help="send --prompt this many times over (long prompts without a long "
                         "command line)")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--time-limit-s", type=float, default=600.0)
    ap.add_argument("--request-timeout-s", type=float, default=300.0)
    ap.add_argument("--stub-dir", default=None)
    ap.add_argument("--api", choices=["grpc", "grpc-chat", "http-chat", "compare"], default="grpc")
    ap.add_argument("--http", default="127.0.0.1:8000", help="host:port of the HTTP API")
    ap.add_argument("--question", default="What is 58 + 17?")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    args.prompt = args.prompt * args.prompt_repeat
    for address in (args.server, args.http):
        if address.rsplit(":", 1)[0] not in LOOPBACK:
            ap.error("--server and --http must be loopback addresses (local measurements only)")
    if not (1 <= args.concurrency <= 1024 and 1 <= args.requests <= 100000):
        ap.error("--concurrency must be in [1, 1024] and --requests in [1, 100000]")

    client = gptoss_client.Client(args.server,
                                  args.stub_dir or tempfile.mkdtemp(prefix="gptoss_stubs_"))
    client.wait_serving(timeout=60)
    if args.api != "compare":
        result = run(args, client, args.api)
        report(result)
        return 0 if not result["errors"] else 1
    rounds = {"grpc-chat": [], "http-chat": []}
    for _ in range(args.rounds):
        for api in ("grpc-chat", "http-chat"):
            result = run(args, client, api)
            report(result)
            rounds[api].append(result)
    med = {api: {k: statistics.median(r[k] for r in rs)
                 for k in ("tokens_per_s", "ttft_p50_s", "ttft_p99_s")}
           for api, rs in rounds.items()}
    ratio = {
        "tokens_per_s_http_over_grpc": round(med["http-chat"]["tokens_per_s"] /
                                             med["grpc-chat"]["tokens_per_s"], 3),
        "ttft_p50_http_over_grpc": round(med["http-chat"]["ttft_p50_s"] /
                                         med["grpc-chat"]["ttft_p50_s"], 3),
        "ttft_p99_http_over_grpc": round(med["http-chat"]["ttft_p99_s"] /
                                         med["grpc-chat"]["ttft_p99_s"], 3),
    }
    print("medians over %d rounds: gRPC %.1f tok/s, TTFT p50 %.3f s; HTTP %.1f tok/s, TTFT p50 "
          "%.3f s" % (args.rounds, med["grpc-chat"]["tokens_per_s"], med["grpc-chat"]["ttft_p50_s"],
                      med["http-chat"]["tokens_per_s"], med["http-chat"]["ttft_p50_s"]))
    print(json.dumps({"compare": med, "ratios": ratio}))
    errors = sum(r["errors"] for rs in rounds.values() for r in rs)
    return 0 if not errors else 1


def one_request(args, client, api, conns):
    """(ttft or None, tokens) of one streamed request."""
    t0 = time.monotonic()
    first = None
    if api == "grpc":
        req = client.pb.GenerateRequest(text=args.prompt)
        req.sampling.temperature = args.temperature
        req.stop.max_tokens = args.max_tokens
        n = 0
        for resp in client.stub.Generate(req, timeout=args.request_timeout_s):
            if resp.HasField("chunk") and resp.chunk.token_ids:
                if first is None:
                    first = time.monotonic() - t0
                n += len(resp.chunk.token_ids)
        return first, n
    if api == "grpc-chat":
        req = client.pb.ChatRequest(include_analysis=True)
        m = req.messages.add()
        m.role = client.pb.ROLE_USER
        m.content = args.question
        req.sampling.temperature = args.temperature
        req.stop.max_tokens = args.max_tokens
        n = 0
        for resp in client.stub.Chat(req, timeout=args.request_timeout_s):
            if resp.HasField("delta") and resp.delta.text and first is None:
                first = time.monotonic() - t0
            if resp.HasField("final"):
                n = resp.final.usage.completion_tokens
        return first, n
    # http-chat: one keep-alive connection per client thread.
    host, port = args.http.rsplit(":", 1)
    conn = conns.get("c")
    if conn is None:
        conn = conns["c"] = http.client.HTTPConnection(host, int(port),
                                                       timeout=args.request_timeout_s)
    body = json.dumps({"messages": [{"role": "user", "content": args.question}],
                       "max_tokens": args.max_tokens, "temperature": args.temperature,
                       "stream": True, "stream_options": {"include_usage": True}})
    try:
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
    except (OSError, http.client.HTTPException):
        conns.pop("c").close()
        raise
    if resp.status != 200:
        raise RuntimeError("HTTP %d: %s" % (resp.status, resp.read()[:200]))
    n = 0
    while True:
        line = resp.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        data = line[6:].strip()
        if data == b"[DONE]":
            break
        event = json.loads(data)
        if event.get("usage"):
            n = event["usage"]["completion_tokens"]
        for choice in event.get("choices", []):
            delta = choice.get("delta", {})
            if first is None and (delta.get("content") or delta.get("reasoning_content")):
                first = time.monotonic() - t0
    resp.read()
    return first, n


def run(args, client, api):
    lock = threading.Lock()
    next_index = [0]
    ttft, latency, tokens, errors = [], [], [0], []
    start = time.monotonic()
    deadline = start + args.time_limit_s

    def worker():
        conns = {}
        while True:
            with lock:
                if next_index[0] >= args.requests or time.monotonic() > deadline:
                    return
                next_index[0] += 1
            t0 = time.monotonic()
            try:
                first, n = one_request(args, client, api, conns)
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append("%s: %s" % (type(e).__name__, e))
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
    return {
        "api": api, "server": args.http if api == "http-chat" else args.server,
        "concurrency": args.concurrency, "requests": done,
        "errors": len(errors), "error_samples": errors[:5], "skipped": args.requests - next_index[0],
        "max_tokens": args.max_tokens, "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(done / elapsed, 3) if elapsed > 0 else 0.0,
        "tokens_per_s": round(tokens[0] / elapsed, 2) if elapsed > 0 else 0.0,
        "ttft_p50_s": round(percentile(ttft, 50), 4), "ttft_p99_s": round(percentile(ttft, 99), 4),
        "latency_p50_s": round(percentile(latency, 50), 4),
        "latency_p99_s": round(percentile(latency, 99), 4),
    }


def report(result):
    print("%s: requests %d (errors %d, skipped %d) in %.1f s at concurrency %d" %
          (result["api"], result["requests"], result["errors"], result["skipped"],
           result["elapsed_s"], result["concurrency"]))
    print("  %.2f requests/s, %.1f tokens/s" % (result["requests_per_s"], result["tokens_per_s"]))
    print("  time to first token p50 %.3f s, p99 %.3f s" % (result["ttft_p50_s"],
                                                           result["ttft_p99_s"]))
    print("  request latency     p50 %.3f s, p99 %.3f s" % (result["latency_p50_s"],
                                                           result["latency_p99_s"]))
    for e in result["error_samples"]:
        print("  error:", e)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
