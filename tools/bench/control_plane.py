#!/usr/bin/env python3
"""The control plane's cost per engine step, measured with null workers (no model compute).

Starts `gptoss serve --device null[:US] --workers W --log-steps` for each W in --workers on a
model directory holding only --config (default: gpt-oss-120b's config.json: null workers read no
weights, and its 8 kv heads and 128 experts shard over up to 8 ranks), streams --requests
Generate calls at --concurrency through tools/clients/load.py (gRPC, loopback), and reads the
engine's step log. Per decode step with at least 3/4 of --concurrency sequences (medians):
`worker_ms`, rank 0's step (plan checks, plus --step-us of simulated forward pass: a GPU step's
stand-in), `idle_ms`, how long the workers (the slowest rank) stood between finishing the
previous step and starting this one, `wait_ms`, the part of it before the step's plan had
arrived: the coordinator's time that the step did NOT hide (the rest is the worker's own
hand-over), `step_ms`, the step's own time on the coordinator's clock, and `coordinator_ms`,
the engine thread's busy time per step. steps/s = 1000 / (worker_ms + idle_ms), the workers' cycle. --no-overlap runs the
coordinator one step at a time (the comparison for overlap).

    python3 tools/bench/control_plane.py --cli build/tools/cli/gptoss --workers 1 8 \
        --concurrency 64 --requests 128 --max-tokens 200 --step-us 1000

Needs /usr/bin/python3 with python3-grpcio (load.py). Prints a table and one JSON line.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOAD = os.path.join(HERE, "..", "clients", "load.py")
STEP = re.compile(r"engine: step=\d+ seqs=(\d+) prefill=(\d+) decode=(\d+) .* time_ms=([\d.]+) "
                  r"worker_ms=([\d.]+) coordinator_ms=([\d.]+) idle_ms=([\d.]+) "
                  r"wait_ms=([\d.]+)")


def measure(args, workers, scratch, model_dir):
    ports = os.path.join(scratch, f"ports-{workers}")
    log_path = os.path.join(scratch, f"serve-{workers}.log")
    log = open(log_path, "w")
    serve = subprocess.Popen(
        [args.cli, "serve", "--model", model_dir, "--device", f"null:{args.step_us}",
         "--workers", str(workers), "--port", "0",
         "--port-file", ports, "--http-port", "-1", "--log-steps",
         "--max-num-seqs", str(max(args.concurrency, 1)),
         "--max-waiting", str(max(args.concurrency, 256)),
         "--stream-interval", str(args.stream_interval)] +
        (["--no-overlap"] if args.no_overlap else []),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (os.path.exists(ports) and open(ports).read().count("\n") >= 2):
            if serve.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"gptoss serve did not start; see {log_path}")
            time.sleep(0.2)
        port = int(open(ports).read().split()[0])
        load = subprocess.run(
            [sys.executable, LOAD, "--server", f"127.0.0.1:{port}", "--concurrency",
             str(args.concurrency), "--requests", str(args.requests), "--max-tokens",
             str(args.max_tokens)] +
            (["--prompt", " hello", "--prompt-repeat", str(args.prompt_tokens)]
             if args.prompt_tokens else []),
            capture_output=True, text=True, timeout=1800)
        if load.returncode != 0:
            raise RuntimeError(f"load.py failed: {load.stdout[-2000:]} {load.stderr[-2000:]}")
        client = json.loads(load.stdout.strip().splitlines()[-1])
    finally:
        os.killpg(serve.pid, 15)
        serve.wait(timeout=60)
        log.close()
    full = []
    for line in open(log_path):
        m = STEP.search(line)
        # Decode steps with at least 3/4 of the sequences in flight (a Python client cannot
        # always keep every stream's next token queued when a step takes well under a ms).
        if m and int(m.group(2)) == 0 and 4 * int(m.group(3)) >= 3 * args.concurrency:
            full.append(tuple(float(x) for x in m.group(4, 5, 6, 7, 8)) + (int(m.group(3)),))
    if not full:
        raise RuntimeError(f"no decode steps of >= 3/4 x {args.concurrency} sequences in "
                           f"{log_path}")
    step = statistics.median(f[0] for f in full)
    worker = statistics.median(f[1] for f in full)
    coord = statistics.median(f[2] for f in full)
    idle = statistics.median(f[3] for f in full)
    wait = statistics.median(f[4] for f in full)
    return {"workers": workers, "stream_interval": args.stream_interval,
            "step_us": args.step_us, "overlap": not args.no_overlap,
            "sequences": statistics.median(f[5] for f in full),
            "full_steps": len(full),
            "step_ms": step, "worker_ms": worker, "coordinator_ms": coord, "idle_ms": idle,
            "plan_wait_ms": wait,
            "steps_per_s": 1e3 / (worker + idle), "client_tokens_per_s": client["tokens_per_s"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", required=True, help="the gptoss binary")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--config", default=os.path.join(HERE, "..", "..", "tests", "data", "configs",
                                                      "gpt-oss-120b.json"))
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--requests", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--stream-interval", type=int, default=1,
                    help="the server's --stream-interval (tokens per stream message)")
    ap.add_argument("--prompt-tokens", type=int, default=0,
                    help="a prompt of about this many tokens (long contexts: big block tables)")
    ap.add_argument("--step-us", type=int, default=0,
                    help="simulated forward pass of each null step, microseconds")
    ap.add_argument("--no-overlap", action="store_true",
                    help="the server's --no-overlap (one step at a time)")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="gptoss_control_plane_")
    model_dir = os.path.join(scratch, "model")
    os.makedirs(model_dir)
    shutil.copy(args.config, os.path.join(model_dir, "config.json"))
    rows = [measure(args, w, scratch, model_dir) for w in args.workers]
    print(f"{'workers':>7} {'seqs':>5} {'steps':>6} {'step ms':>8} {'worker ms':>9} "
          f"{'coord ms':>8} {'idle ms':>8} {'wait ms':>8} {'steps/s':>8} {'client tok/s':>12}")
    for r in rows:
        print(f"{r['workers']:>7} {r['sequences']:>5.0f} {r['full_steps']:>6} {r['step_ms']:>8.2f} "
              f"{r['worker_ms']:>9.2f} {r['coordinator_ms']:>8.3f} {r['idle_ms']:>8.3f} {r['plan_wait_ms']:>8.3f} "
              f"{r['steps_per_s']:>8.1f} {r['client_tokens_per_s']:>12.1f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())
