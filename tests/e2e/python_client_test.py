#!/usr/bin/env python3
"""End to end through the Python grpcio client (tools/clients/gptoss_client.py): starts a
coordinator and a worker on free loopback ports with the tiny checkpoint, runs the client's
selftest (Generate, Chat, Tokenize/Detokenize, validation, health, reflection), then stops the
server with SIGTERM and checks that both processes exit 0. Bounded in time everywhere.

    python_client_test.py --cli BIN --coordinator BIN --worker BIN --scratch DIR
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools", "clients"))
import gptoss_client  # noqa: E402


def wait_for_file(path, proc, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        # The file appears whole (written, then renamed): public, internal, metrics, HTTP ports.
        if os.path.exists(path) and len(open(path).read().split()) >= 2:
            return open(path).read().strip()
        if proc.poll() is not None:
            raise RuntimeError("process exited early with %s" % proc.returncode)
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for %s" % path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--coordinator", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--scratch", required=True)
    args = ap.parse_args()
    # The coordinator and the worker share the cluster secret through their environment.
    os.environ["GPTOSS_CLUSTER_SECRET"] = "python-client-test-secret-0123456789"
    shutil.rmtree(args.scratch, ignore_errors=True)
    os.makedirs(args.scratch)
    model = os.path.join(args.scratch, "gpt-oss-tiny")
    subprocess.run([args.cli, "make-checkpoint", "--preset", "tiny", "--out", model],
                   check=True, timeout=120, stdout=subprocess.DEVNULL)
    port_file = os.path.join(args.scratch, "port")
    logs = {name: open(os.path.join(args.scratch, name + ".log"), "w")
            for name in ("coordinator", "worker")}
    procs = []
    try:
        coordinator = subprocess.Popen(
            [args.coordinator, "--model", model, "--host", "127.0.0.1", "--port", "0",
             "--internal-port", "0", "--port-file", port_file], stdout=logs["coordinator"], stderr=subprocess.STDOUT)
        procs.append(coordinator)
        ports = wait_for_file(port_file, coordinator, 60).split()
        address, internal = "127.0.0.1:" + ports[0], "127.0.0.1:" + ports[1]
        worker = subprocess.Popen(
            [args.worker, "--coordinator", internal, "--model", model, "--kv-cache-mb", "64"],
            stdout=logs["worker"], stderr=subprocess.STDOUT)
        procs.append(worker)
        client = gptoss_client.Client(address, os.path.join(args.scratch, "stubs"))
        client.wait_serving(timeout=60)
        for what in gptoss_client.selftest(client):
            print("ok:", what)
        client.channel.close()
        coordinator.send_signal(signal.SIGTERM)
        assert coordinator.wait(timeout=60) == 0, "coordinator exit code"
        assert worker.wait(timeout=60) == 0, "worker exit code"
        print("ok: SIGTERM stops the coordinator and its worker cleanly")
        return 0
    except Exception as e:  # print the server logs with the failure
        print("FAILED:", e)
        for name, f in logs.items():
            f.flush()
            print("---- %s log ----" % name)
            print(open(f.name).read()[-4000:])
        return 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
