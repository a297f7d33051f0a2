#!/usr/bin/python3
"""Bounded chaos run on loopback: random valid and invalid requests, cancels, and worker
kill -9 / SIGSTOP / restart while the service runs (python3-grpcio from Debian; stubs are
generated at run time like tools/clients/gptoss_client.py).

    tools/chaos/chaos.py --cli build/tools/cli/gptoss --coordinator build/coordinator/gptoss-coordinator \
        --worker build/worker/gptoss-worker --duration 120 [--clients 8] [--out report.json]

It starts a coordinator (--worker-timeout-s 2) and one worker on free ports with a fresh tiny
checkpoint, runs --clients request threads and one chaos thread for --duration seconds, then
waits for the service to recover. It samples the coordinator's RSS and open fds every second
and prints, then writes as JSON: outcomes by rpc and status code, the RSS/fd series, the
longest time any request took past its own deadline, and the checks below.
Exit 0 only if: the coordinator never died, no request outlived its deadline by more than
--hang-slack-s, the service was SERVING again within --recover-s of the last fault, and the
coordinator's RSS at the end is within --rss-growth-mb of its value after warm-up.
"""
import argparse
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "clients"))
import gptoss_client  # noqa: E402


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_for_ports(path, proc, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            # "<public>\n<internal>\n..." (later lines: metrics and HTTP ports, -1 when off)
            ports = open(path).read().split()
            if len(ports) >= 2:
                return ports[:2]
        if proc.poll() is not None:
            raise RuntimeError("coordinator exited with %s" % proc.returncode)
        time.sleep(0.05)
    raise RuntimeError("coordinator did not write %s" % path)


class Chaos:
    def __init__(self, args):
        self.args = args
        self.scratch = tempfile.mkdtemp(prefix="gptoss-chaos-")
        self.rng = random.Random(args.seed)
        self.outcomes = collections.Counter()
        self.lock = threading.Lock()
        self.worst_overrun = 0.0
        self.stop = threading.Event()
        self.workers = []
        self.faults = collections.Counter()
        self.last_fault = 0.0
        self.samples = []

    # --- processes ------------------------------------------------------------------------
    def start(self):
        a = self.args
        os.environ["GPTOSS_CLUSTER_SECRET"] = "chaos-run-secret-%016x" % self.rng.getrandbits(64)
        self.model = os.path.join(self.scratch, "gpt-oss-tiny")
        subprocess.run([a.cli, "make-checkpoint", "--preset", "tiny", "--out", self.model],
                       check=True, timeout=120, stdout=subprocess.DEVNULL)
        port_file = os.path.join(self.scratch, "ports")
        self.coord_log = open(os.path.join(self.scratch, "coordinator.log"), "w")
        self.coordinator = subprocess.Popen(
            [a.coordinator, "--model", self.model, "--host", "127.0.0.1", "--port", "0",
             "--internal-port", "0", "--port-file", port_file, "--worker-timeout-s", "2",
             "--max-waiting", "64"], stdout=self.coord_log, stderr=subprocess.STDOUT)
        public, internal = wait_for_ports(port_file, self.coordinator, 60)
        self.address = "127.0.0.1:" + public
        self.internal = "127.0.0.1:" + internal
        self.start_worker()
        self.client = gptoss_client.Client(self.address, os.path.join(self.scratch, "stubs"))
        self.client.wait_serving(timeout=60)

    def start_worker(self):
        log = open(os.path.join(self.scratch, "worker%d.log" % len(self.workers)), "w")
        w = subprocess.Popen([self.args.worker, "--coordinator", self.internal, "--model",
                              self.model, "--kv-cache-mb", "64"], stdout=log,
                             stderr=subprocess.STDOUT)
        self.workers.append(w)
        return w

    def live_worker(self):
        for w in reversed(self.workers):
            if w.poll() is None:
                return w
        return None

    # --- clients --------------------------------------------------------------------------
    def random_request(self, rng):
        pb = self.client.pb
        kind = rng.choice(["generate", "generate", "chat", "chat", "tokenize", "detokenize",
                           "bad_generate", "bad_chat", "raw_garbage", "info"])
        timeout = rng.choice([0.05, 0.5, 2.0, 10.0])
        if kind == "generate":
            req = pb.GenerateRequest(text=rng.choice(["Hello", "Once upon a time", "x" * 200]))
            req.stop.max_tokens = rng.randint(1, 64)
            req.sampling.temperature = rng.choice([0.0, 0.7, 1.0])
            return kind, timeout, lambda: list(self.client.stub.Generate(req, timeout=timeout))
        if kind == "chat":
            req = pb.ChatRequest(include_analysis=rng.random() < 0.5)
            req.messages.add(role=pb.ROLE_USER, content=rng.choice(["Hi", "What is 2+2?"]))
            if rng.random() < 0.3:
                t = req.tools.add(name="get_weather", description="weather")
                t.parameters_json = '{"type":"object","properties":{"city":{"type":"string"}}}'
            req.stop.max_tokens = rng.randint(1, 48)
            return kind, timeout, lambda: list(self.client.stub.Chat(req, timeout=timeout))
        if kind == "tokenize":
            req = pb.TokenizeRequest(text="<|" * rng.randint(1, 50000) + "|>",
                                     allow_special=rng.random() < 0.5)
            return kind, timeout, lambda: self.client.stub.Tokenize(req, timeout=timeout)
        if kind == "detokenize":
            req = pb.DetokenizeRequest(token_ids=[rng.randint(0, 199997)] * rng.randint(1, 900000))
            return kind, timeout, lambda: self.client.stub.Detokenize(req, timeout=timeout)
        if kind == "bad_generate":
            req = pb.GenerateRequest(text="hi")
            choice = rng.randint(0, 3)
            if choice == 0:
                req.sampling.top_p = 1.5
            elif choice == 1:
                req.stop.max_tokens = 10 ** 9
            elif choice == 2:
                req.token_ids.ids.extend([-5, 10 ** 9])
            else:
                req.logprobs.top_logprobs = 1000
            return kind, timeout, lambda: list(self.client.stub.Generate(req, timeout=timeout))
        if kind == "bad_chat":
            req = pb.ChatRequest()
            req.messages.add(role=pb.ROLE_USER, content="x")
            t = req.tools.add(name="deep", description="d")
            depth = rng.choice([10, 200, 100000])
            t.parameters_json = '{"a":' * depth + "1" + "}" * depth
            return kind, timeout, lambda: list(self.client.stub.Chat(req, timeout=timeout))
        if kind == "raw_garbage":
            # Invalid UTF-8 in field 1 (text) of a TokenizeRequest, and random bytes.
            payload = rng.choice([b"\x0a\x02\xff\xfe", bytes(rng.getrandbits(8) for _ in range(64))])
            call = self.client.channel.unary_unary("/gptoss.v1.Inference/Tokenize",
                                                   request_serializer=lambda b: b,
                                                   response_deserializer=lambda b: b)
            return kind, timeout, lambda: call(payload, timeout=timeout)
        return kind, timeout, lambda: self.client.stub.GetModelInfo(pb.GetModelInfoRequest(),
                                                                    timeout=timeout)

    def client_loop(self, index):
        rng = random.Random(self.args.seed * 1000 + index)
        grpc = self.client.grpc
        while not self.stop.is_set():
            kind, timeout, call = self.random_request(rng)
            start = time.time()
            try:
                call()
                code = "OK"
            except grpc.RpcError as e:
                code = e.code().name
            elapsed = time.time() - start
            with self.lock:
                self.outcomes[(kind, code)] += 1
                self.worst_overrun = max(self.worst_overrun, elapsed - timeout)

    # --- faults ---------------------------------------------------------------------------
    def chaos_loop(self):
        rng = random.Random(self.args.seed + 7)
        while not self.stop.wait(rng.uniform(6.0, 12.0)):
            w = self.live_worker()
            fault = rng.choice(["kill", "stop", "restart"])
            self.faults[fault] += 1
            self.last_fault = time.time()
            if w is not None and fault == "kill":
                w.send_signal(signal.SIGKILL)
                w.wait()
            elif w is not None and fault == "stop":
                w.send_signal(signal.SIGSTOP)
                time.sleep(rng.uniform(1.0, 5.0))
                w.send_signal(signal.SIGCONT)
                try:
                    w.wait(timeout=10)  # its stream was cancelled: it exits
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()
            elif w is not None:
                w.send_signal(signal.SIGTERM)
                try:
                    w.wait(timeout=30)
                except subprocess.TimeoutExpired:  # counted: a worker must stop on SIGTERM
                    self.faults["sigterm_ignored"] += 1
                    w.kill()
                    w.wait()
            self.last_fault = time.time()
            if self.live_worker() is None:
                self.start_worker()

    def sample_loop(self):
        pid = self.coordinator.pid
        t0 = time.time()
        while not self.stop.wait(1.0):
            if self.coordinator.poll() is not None:
                return
            self.samples.append((round(time.time() - t0, 1), round(rss_mb(pid), 1), fd_count(pid)))

    # --- run ------------------------------------------------------------------------------
    def run(self):
        a = self.args
        threads = [threading.Thread(target=self.client_loop, args=(i,), daemon=True)
                   for i in range(a.clients)]
        threads.append(threading.Thread(target=self.sample_loop, daemon=True))
        chaos = threading.Thread(target=self.chaos_loop, daemon=True)
        for t in threads:
            t.start()
        chaos.start()
        time.sleep(a.duration)
        self.stop.set()
        chaos.join(timeout=60)
        for t in threads:
            t.join(timeout=60)
        if self.live_worker() is None:
            self.start_worker()
        recovered_s = None
        t_end = time.time()
        while time.time() - t_end < a.recover_s:
            try:
                if self.client.health(timeout=2.0) == "SERVING":
                    self.client.generate(text="Hello", max_tokens=4, timeout=30)
                    recovered_s = round(time.time() - max(self.last_fault, t_end - 1), 1)
                    break
            except self.client.grpc.RpcError:
                pass
            time.sleep(0.2)
        alive = self.coordinator.poll() is None
        final_rss = rss_mb(self.coordinator.pid) if alive else -1
        return recovered_s, alive, final_rss

    def shutdown(self):
        for p in self.workers + [self.coordinator]:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        for p in self.workers + [self.coordinator]:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--coordinator", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hang-slack-s", type=float, default=5.0)
    ap.add_argument("--recover-s", type=float, default=60.0)
    ap.add_argument("--rss-growth-mb", type=float, default=64.0)
    ap.add_argument("--out", default="")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    args = ap.parse_args()
    chaos = Chaos(args)
    try:
        chaos.start()
        recovered_s, alive, final_rss = chaos.run()
    finally:
        chaos.shutdown()
    warm = [s for s in chaos.samples if s[0] >= min(10.0, args.duration / 4)]
    base_rss = warm[0][1] if warm else -1
    report = {
        "duration_s": args.duration, "clients": args.clients, "seed": args.seed,
        "faults": dict(chaos.faults),
        "outcomes": {"%s %s" % k: v for k, v in sorted(chaos.outcomes.items())},
        "requests": sum(chaos.outcomes.values()),
        "worst_overrun_s": round(chaos.worst_overrun, 2),
        "recovered_after_s": recovered_s,
        "coordinator_alive": alive,
        "rss_mb_after_warmup": base_rss, "rss_mb_end": round(final_rss, 1),
        "rss_mb_max": max((s[1] for s in chaos.samples), default=-1),
        "fds_min_max": [min((s[2] for s in chaos.samples), default=-1),
                        max((s[2] for s in chaos.samples), default=-1)],
        "samples_t_rss_fds": chaos.samples,
    }
    checks = {
        "coordinator never died": alive,
        "no request outlived its deadline by more than %.0f s" % args.hang_slack_s:
            chaos.worst_overrun <= args.hang_slack_s,
        "SERVING again within %.0f s" % args.recover_s: recovered_s is not None,
        "RSS flat (end within %.0f MB of warm-up)" % args.rss_growth_mb:
            alive and final_rss - base_rss <= args.rss_growth_mb,
    }
    report["checks"] = checks
    summary = {k: v for k, v in report.items() if k != "samples_t_rss_fds"}
    print(json.dumps(summary, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    if args.keep:
        print("logs in", chaos.scratch)
    else:
        shutil.rmtree(chaos.scratch, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
