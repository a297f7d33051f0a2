#!/usr/bin/env python3
"""The deployment files agree with the binaries and with each other.

For deploy/k8s/*.yaml, deploy/systemd/*.service and deploy/docker/Dockerfile:
  - every flag passed to gptoss, gptoss-coordinator or gptoss-worker (also inside `sh -c`
    scripts) exists in that binary's `--help`;
  - every port a process is told to listen on (--port, --internal-port, --metrics-port,
    --listen) is declared by its container, every named port a probe, the Service or the
    PodMonitor uses is declared by the pods they select, and workers dial the coordinator's
    --internal-port;
  - every Secret (and key), volume and claim referenced is defined, and every file path a flag
    names lies in a mounted volume that provides it;
  - `kubectl apply --dry-run=client --validate=false` accepts every manifest, where kubectl can
    run without a cluster (skipped with the reason otherwise).
Usage: deploy_test.py --bin BUILD_DIR --source SOURCE_DIR
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:  # the python3 on PATH may be another installation: Debian's has python3-yaml
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    print("SKIPPED: no python3 with the yaml module (install python3-yaml)")
    sys.exit(77)

FAILURES = []


def check(cond, message):
    if not cond:
        FAILURES.append(message)


def help_flags(binary, extra=()):
    out = subprocess.run([binary, *extra, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"{binary} {' '.join(extra)} --help failed: {out.stderr}"
    flags = set(re.findall(r"^\s+--([a-z0-9-]+)", out.stdout, re.M))
    assert flags, f"{binary} --help lists no flags"
    return flags


class Binaries:
    def __init__(self, build):
        self.paths = {
            "gptoss-coordinator": os.path.join(build, "coordinator", "gptoss-coordinator"),
            "gptoss-worker": os.path.join(build, "worker", "gptoss-worker"),
            "gptoss": os.path.join(build, "tools", "cli", "gptoss"),
        }
        self.cache = {}

    def flags(self, program, subcommand=None):
        key = (program, subcommand)
        if key not in self.cache:
            if program == "gptoss":
                sub = subcommand or ""
                # `gptoss coordinator` / `gptoss worker` are the same programs.
                if sub in ("coordinator", "worker"):
                    self.cache[key] = self.flags(f"gptoss-{sub}")
                    return self.cache[key]
                self.cache[key] = help_flags(self.paths["gptoss"], [sub])
            else:
                self.cache[key] = help_flags(self.paths[program])
        return self.cache[key]


def invocations(argv):
    """(program, subcommand, [args]) for every gptoss program run by an argv (a `sh -c` script
    is split into its commands)."""
    if len(argv) >= 3 and os.path.basename(argv[0]) in ("sh", "bash") and argv[1] == "-c":
        out = []
        for command in re.split(r"[;&|]+", argv[2]):
            words = shlex.split(command)
            if words and words[0] == "exec":
                words = words[1:]
            out += invocations(words)
        return out
    if not argv:
        return []
    program = os.path.basename(argv[0])
    if program not in ("gptoss", "gptoss-coordinator", "gptoss-worker"):
        return []
    if program == "gptoss" and len(argv) > 1 and not argv[1].startswith("--"):
        return [(program, argv[1], argv[2:])]
    return [(program, None, argv[1:])]


def parse_flags(args):
    """{flag: value or None}; values that are shell/k8s expressions stay as written."""
    flags = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if eq:
                flags[name] = value
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                flags[name] = args[i + 1]
                i += 1
            else:
                flags[name] = None
        i += 1
    return flags


def check_invocation(where, binaries, program, subcommand, flags):
    known = binaries.flags(program, subcommand)
    for name in flags:
        check(name in known, f"{where}: {program} {subcommand or ''} has no flag --{name}")


def port_of(value):
    """The port number of '1234', 'host:1234' (None for expressions)."""
    if value is None:
        return None
    m = re.search(r"(?:^|:)(\d+)$", value)
    return int(m.group(1)) if m else None


def pod_templates(doc):
    """(name, pod template) pairs of a workload document."""
    kind = doc.get("kind")
    spec = doc.get("spec", {})
    if kind == "LeaderWorkerSet":
        t = spec.get("leaderWorkerTemplate", {})
        return [(f"{doc['metadata']['name']}/{k}", t[k])
                for k in ("leaderTemplate", "workerTemplate") if k in t]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [(doc["metadata"]["name"], spec["template"])]
    if kind == "Pod":
        return [(doc["metadata"]["name"], doc)]
    return []


def check_k8s(source, binaries):
    docs = []
    for path in sorted(glob.glob(os.path.join(source, "deploy", "k8s", "*.yaml"))):
        for doc in yaml.safe_load_all(open(path)):
            if doc:
                docs.append((os.path.relpath(path, source), doc))
    secrets = {d["metadata"]["name"]: set((d.get("data") or {}) | (d.get("stringData") or {}))
               for _, d in docs if d["kind"] == "Secret"}
    claims = {d["metadata"]["name"] for _, d in docs if d["kind"] == "PersistentVolumeClaim"}
    check(secrets, "no Secret defined in deploy/k8s")
    pods = []  # (where, labels, {port name}, {port number})
    internal_ports = set()
    dialed = []
    for path, doc in docs:
        for name, template in pod_templates(doc):
            where = f"{path}:{name}"
            spec = template["spec"]
            labels = template.get("metadata", {}).get("labels", {})
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for v in volumes.values():
                if "secret" in v:
                    check(v["secret"]["secretName"] in secrets,
                          f"{where}: volume {v['name']} uses undefined Secret {v['secret']['secretName']}")
                if "persistentVolumeClaim" in v:
                    check(v["persistentVolumeClaim"]["claimName"] in claims,
                          f"{where}: undefined claim {v['persistentVolumeClaim']['claimName']}")
            names, numbers = set(), set()
            for c in spec["containers"]:
                cw = f"{where}/{c['name']}"
                cnames = {p.get("name") for p in c.get("ports", [])}
                cnumbers = {p["containerPort"] for p in c.get("ports", [])}
                names |= cnames
                numbers |= cnumbers
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
                for m in c.get("volumeMounts", []):
                    check(m["name"] in volumes, f"{cw}: mounts undefined volume {m['name']}")
                for env in c.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        check(ref["name"] in secrets and ref["key"] in secrets.get(ref["name"], ()),
                              f"{cw}: env {env['name']} uses undefined secret key {ref}")
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    p = c.get(probe)
                    if not p:
                        continue
                    for kind in ("tcpSocket", "grpc", "httpGet"):
                        if kind in p:
                            port = p[kind]["port"]
                            check(port in cnames or port in cnumbers,
                                  f"{cw}: {probe} uses port {port} the container does not declare")
                    if "exec" in p:
                        for program, sub, args in invocations(p["exec"]["command"]):
                            flags = parse_flags(args)
                            check_invocation(f"{cw} {probe}", binaries, program, sub, flags)
                            check_files(cw, flags, mounts, volumes, secrets)
                argv = list(c.get("command", [])) + list(c.get("args", []))
                runs = invocations(argv)
                check(runs, f"{cw}: runs no gptoss program ({argv[:2]})")
                for program, sub, args in runs:
                    flags = parse_flags(args)
                    check_invocation(cw, binaries, program, sub, flags)
                    check_files(cw, flags, mounts, volumes, secrets)
                    for flag in ("port", "internal-port", "metrics-port", "listen"):
                        port = port_of(flags.get(flag))
                        if port:
                            check(port in cnumbers,
                                  f"{cw}: --{flag} {flags[flag]} is not a declared containerPort")
                    if program == "gptoss-coordinator" or sub == "coordinator":
                        internal_ports.add(port_of(flags.get("internal-port", "50052")))
                    if "coordinator" in flags:
                        dialed.append((cw, port_of(flags["coordinator"])))
            pods.append((where, labels, names, numbers))
    for cw, port in dialed:
        check(port in internal_ports, f"{cw}: dials the coordinator on {port}, which listens on "
                                      f"{sorted(internal_ports)}")

    def selected(selector):
        return [p for p in pods if all(p[1].get(k) == v for k, v in selector.items())]

    for path, doc in docs:
        if doc["kind"] == "Service":
            targets = selected(doc["spec"]["selector"])
            check(targets, f"{path}: Service {doc['metadata']['name']} selects no pod template")
            for port in doc["spec"]["ports"]:
                t = port.get("targetPort", port["port"])
                for where, _, names, numbers in targets:
                    check(t in names or t in numbers,
                          f"{path}: targetPort {t} is not declared by {where}")
        if doc["kind"] == "PodMonitor":
            targets = selected(doc["spec"]["selector"]["matchLabels"])
            check(targets, f"{path}: PodMonitor selects no pod template")
            declared = set().union(*(p[2] for p in targets)) if targets else set()
            for ep in doc["spec"]["podMetricsEndpoints"]:
                check(ep["port"] in declared, f"{path}: metrics port {ep['port']} is declared by no pod")
    return sorted({p for p, _ in docs})


def check_files(where, flags, mounts, volumes, secrets):
    """A flag naming a file under a mounted Secret must name one of its keys."""
    for name, value in flags.items():
        if not value or not value.startswith("/") or not name.endswith(("-file", "-cert", "-key", "-ca")):
            continue
        mount = max((m for m in mounts if value.startswith(m.rstrip("/") + "/")), key=len,
                    default=None)
        check(mount is not None, f"{where}: --{name} {value} is in no mounted volume")
        if mount is None:
            continue
        volume = volumes.get(mounts[mount], {})
        if "secret" in volume:
            key = value[len(mount.rstrip("/")) + 1:]
            check(key in secrets.get(volume["secret"]["secretName"], ()),
                  f"{where}: --{name} {value}: Secret {volume['secret']['secretName']} has no key {key}")


def check_systemd(source, binaries):
    units = sorted(glob.glob(os.path.join(source, "deploy", "systemd", "*.service")))
    check(units, "no systemd units")
    env_example = os.path.join(source, "deploy", "systemd", "gptoss.env.example")
    env_vars = set(re.findall(r"^([A-Z_]+)=", open(env_example).read(), re.M))
    for path in units:
        text = open(path).read()
        where = os.path.relpath(path, source)
        credentials = set(re.findall(r"^LoadCredential=([^:]+):", text, re.M))
        for line in re.findall(r"^ExecStart=(.*)$", text, re.M):
            # systemd: $$ is a literal $, %i the instance; ${VAR} comes from the environment.
            argv = shlex.split(line.replace("$$", "$").replace("%i", "0"))
            runs = invocations(argv)
            check(runs, f"{where}: ExecStart runs no gptoss program")
            for program, sub, args in runs:
                flags = parse_flags(args)
                check_invocation(where, binaries, program, sub, flags)
                for name, value in flags.items():
                    for cred in re.findall(r"CREDENTIALS_DIRECTORY\}?/([\w.-]+)", value or ""):
                        check(cred in credentials, f"{where}: --{name} uses credential {cred} "
                                                   f"that no LoadCredential= provides")
        for var in re.findall(r"\$\$?\{?(GPTOSS_[A-Z_]+)", text):
            check(var in env_vars, f"{where}: ${var} is not in gptoss.env.example")


def check_docker(source, binaries):
    path = os.path.join(source, "deploy", "docker", "Dockerfile")
    text = open(path).read()
    for src in re.findall(r"^COPY (?!--from)(\S+) ", text, re.M):
        check(src == "." or os.path.exists(os.path.join(source, src)),
              f"Dockerfile: COPY {src} does not exist")
    entry = re.search(r'^ENTRYPOINT (\[.*\])$', text, re.M)
    cmd = re.search(r'^CMD (\[.*\])$', text, re.M)
    check(entry and cmd, "Dockerfile: no ENTRYPOINT/CMD")
    if entry and cmd:
        argv = yaml.safe_load(entry.group(1)) + yaml.safe_load(cmd.group(1))
        for program, sub, args in invocations(argv):
            check_invocation("Dockerfile CMD", binaries, program, sub, parse_flags(args))
        check(argv[0].startswith("/opt/gptoss/bin/"), "Dockerfile: the entrypoint is not installed there")
    check("--prefix /opt/gptoss" in text, "Dockerfile: the binaries are not installed under /opt/gptoss")
    check(re.search(r"^USER (?!root|0\b)", text, re.M), "Dockerfile: the image runs as root")


def kubectl_dry_run(source, manifests):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("kubectl dry run: SKIPPED (no kubectl here)")
        return
    for m in manifests:
        r = subprocess.run([kubectl, "apply", "--dry-run=client", "--validate=false", "-o", "name",
                            "-f", os.path.join(source, m)], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0 and re.search(r"(connection refused|no such host|couldn't get current "
                                           r"server|no matches for kind|ensure CRDs)",
                                           r.stderr, re.I):
            print(f"kubectl dry run of {m}: SKIPPED (needs a cluster or CRDs: "
                  f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''})")
            continue
        check(r.returncode == 0, f"kubectl apply --dry-run=client {m}: {r.stderr.strip()}")
        if r.returncode == 0:
            print(f"kubectl dry run of {m}: {r.stdout.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    binaries = Binaries(args.bin)
    manifests = check_k8s(args.source, binaries)
    check_systemd(args.source, binaries)
    check_docker(args.source, binaries)
    kubectl_dry_run(args.source, manifests)
    if FAILURES:
        print("FAIL:\n  " + "\n  ".join(FAILURES))
        return 1
    print(f"PASS: {len(manifests)} manifests, the systemd units and the Dockerfile agree with "
          f"the binaries' --help, each other's ports, Secrets and volumes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
