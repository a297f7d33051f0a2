#!/usr/bin/env python3
"""A real Prometheus scrapes a running `gptoss serve --workers 2` (the toy model).

Checks, through Prometheus' HTTP query API, that gptoss_generation_tokens_total equals the
tokens the test streamed and that the per-expert counters of all ranks add up to tokens x top-k
x layers; runs `promtool check metrics` on a live scrape of every process and `promtool check
rules` on deploy/observability/alerts.yml, and checks that every metric the dashboard and the
rules name exists in a live scrape.

Usage: prometheus_test.py --cli GPTOSS --source SOURCE_DIR --scratch DIR
Exit 77 (ctest: skipped) with the reason printed when prometheus/promtool are not installed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request


def free_port_block(n):
    """A base port P with P..P+n-1 all free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65535:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of ports")


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last: {last})")


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def query(prom, expr):
    url = f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    data = json.loads(http_get(url))
    assert data["status"] == "success", data
    return data["data"]["result"]


def scalar(prom, expr):
    result = query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def metric_families(text):
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--scratch", required=True)
    args = ap.parse_args()
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        print("SKIPPED: Debian's prometheus package (prometheus, promtool) is not installed "
              "and could not be (deploy/test.sh installs it)")
        return 77
    shutil.rmtree(args.scratch, ignore_errors=True)
    os.makedirs(args.scratch)
    obs = os.path.join(args.source, "deploy", "observability")
    procs = []
    try:
        # promtool on the committed rules and the static config.
        for cmd in ([promtool, "check", "rules", os.path.join(obs, "alerts.yml")],
                    [promtool, "check", "config", os.path.join(obs, "prometheus.yml")]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            assert r.returncode == 0, f"{' '.join(cmd)}:\n{r.stdout}{r.stderr}"

        base = free_port_block(3)
        port_file = os.path.join(args.scratch, "ports")
        serve_log = open(os.path.join(args.scratch, "serve.log"), "w")
        procs.append(subprocess.Popen(
            [args.cli, "serve", "--port", "0", "--http-port", "0", "--port-file", port_file,
             "--workers", "2", "--metrics-port", str(base)], stdout=serve_log, stderr=subprocess.STDOUT))
        wait_for(lambda: os.path.exists(port_file) and
                 len(open(port_file).read().split()) >= 3, 60, "the port file")
        public = int(open(port_file).read().split()[0])
        assert int(open(port_file).read().split()[2]) == base
        targets = [f"127.0.0.1:{base + i}" for i in range(3)]

        # Stream some answers (greedy), counting what the client received.
        generated = processed = 0
        for question in ["What is 58 + 17?", "What is the capital of Japan?",
                         "What is 90 - 45?"]:
            r = subprocess.run(
                [args.cli, "chat", "--server", f"127.0.0.1:{public}", "--wait-ready-s", "120",
                 "--max-tokens", "120", "--temperature", "0"],
                input=question + "\n", capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, r.stdout + r.stderr
            m = re.search(r"\(finish: (\w+), (\d+) prompt \+ (\d+) completion", r.stdout)
            assert m, r.stdout
            finish, prompt, completion = m.group(1), int(m.group(2)), int(m.group(3))
            generated += completion
            # The last token is sampled, never fed back; but when it is a stop token, the next
            # step (sent before the stop was seen: overlap) feeds it and routes one more token,
            # whose output is dropped. A length finish is known in advance: no such step.
            processed += prompt + completion - 1 + (finish != "length")

        # Every process's live scrape passes promtool's lint.
        scrapes = {}
        for t in targets:
            text = wait_for(lambda: http_get(f"http://{t}/metrics"), 30, f"{t}/metrics")
            scrapes[t] = text
            r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                               text=True)
            assert r.returncode == 0, f"promtool check metrics on {t}:\n{r.stdout}{r.stderr}"

        # Every metric the dashboard and the rules use exists in a live scrape.
        families = set().union(*(metric_families(t) for t in scrapes.values()))
        used = set()
        for name in ("grafana-dashboard.json", "alerts.yml"):
            used |= set(re.findall(r"\b(gptoss_[a-z_]+)", open(os.path.join(obs, name)).read()))
        base_names = {re.sub(r"_(bucket|count|sum)$", "", n) for n in used}
        missing = sorted(n for n in base_names if n not in families)
        assert not missing, f"used by the dashboard or the rules but not exported: {missing}"

        # A real Prometheus scrapes all three.
        prom = free_port_block(1)
        config = os.path.join(args.scratch, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                    "  - job_name: gptoss\n    static_configs:\n"
                    f"      - targets: {json.dumps(targets)}\n")
        prom_log = open(os.path.join(args.scratch, "prometheus.log"), "w")
        procs.append(subprocess.Popen(
            [prometheus, f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(args.scratch, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{prom}"], stdout=prom_log,
            stderr=subprocess.STDOUT))
        wait_for(lambda: scalar(prom, 'count(up{job="gptoss"} == 1)') == 3, 60,
                 "Prometheus to scrape all three targets")
        got = wait_for(lambda: scalar(prom, "sum(gptoss_generation_tokens_total)") == generated
                       and generated, 30, f"gptoss_generation_tokens_total == {generated}")
        config_json = json.load(open(os.path.join(args.source, "tools", "toy", "gptoss-toy",
                                                  "config.json")))
        want = processed * config_json["num_experts_per_tok"] * config_json["num_hidden_layers"]
        wait_for(lambda: scalar(prom, "sum(gptoss_expert_tokens_total)") == want, 30,
                 f"sum(gptoss_expert_tokens_total) == {want}")
        ranks = query(prom, "sum by (rank) (gptoss_expert_tokens_total)")
        assert len(ranks) == 2, ranks  # both ranks routed tokens
        assert scalar(prom, 'max(gptoss_workers{state="ready"})') == 2
        print(f"PASS: {generated} tokens streamed = gptoss_generation_tokens_total; "
              f"sum(gptoss_expert_tokens_total) = {want} = {processed} tokens x top-k x layers; "
              f"promtool: rules, config and {len(targets)} live scrapes clean; "
              f"{len(base_names)} dashboard/rule metrics exported")
        return 0
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
