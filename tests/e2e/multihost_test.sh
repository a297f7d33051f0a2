#!/bin/bash
# Multi-host serving without the hosts: the coordinator and two workers each in their own Linux
# network namespace ("hosts" 10.77.x.1..3 on a bridge in a fourth namespace), the model sharded
# over the two workers (Gloo between them across the bridge), and a chat served end to end from
# the coordinator's host. Nothing listens on loopback except what the test asks for, so every
# byte between the processes crosses the "network".
# Usage: multihost_test.sh CLI_BINARY MODEL_DIR SCRATCH_DIR
# Exit 77 (ctest: skipped), with the reason printed, where namespaces cannot be made (no root or
# no CAP_NET_ADMIN, no `ip`).
set -u
CLI=$1 MODEL=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
TAG="g$$"
NS_HUB="$TAG-hub" NS_C="$TAG-c" NS_W0="$TAG-w0" NS_W1="$TAG-w1"
NET="10.77.$(( $$ % 250 ))"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for ns in "$NS_C" "$NS_W0" "$NS_W1" "$NS_HUB"; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT

if ! command -v ip >/dev/null 2>&1 || ! ip netns add "$NS_HUB" 2>"$SCRATCH/netns.err"; then
  echo "SKIPPED: cannot create network namespaces here ($(cat "$SCRATCH/netns.err" 2>/dev/null))"
  exit 77
fi
ip -n "$NS_HUB" link add br0 type bridge && ip -n "$NS_HUB" link set br0 up || exit 1
i=1
for ns in "$NS_C" "$NS_W0" "$NS_W1"; do
  ip netns add "$ns" || exit 1
  ip link add "v$TAG$i" type veth peer name "h$TAG$i" || exit 1
  ip link set "v$TAG$i" netns "$ns" && ip link set "h$TAG$i" netns "$NS_HUB" || exit 1
  ip -n "$NS_HUB" link set "h$TAG$i" master br0 && ip -n "$NS_HUB" link set "h$TAG$i" up || exit 1
  ip -n "$ns" addr add "$NET.$i/24" dev "v$TAG$i" && ip -n "$ns" link set "v$TAG$i" up || exit 1
  ip -n "$ns" link set lo up || exit 1
  i=$((i + 1))
done
C="$NET.1" W0="$NET.2" W1="$NET.3"

export GPTOSS_CLUSTER_SECRET="multihost-test-secret-0123456789"
ip netns exec "$NS_C" "$CLI" coordinator --model "$MODEL" --host "$C" --port 0 \
  --internal-port 0 --port-file "$SCRATCH/ports" --world-size 2 >"$SCRATCH/coordinator.log" 2>&1 &
PIDS+=($!)
# The port file appears whole (written, then renamed): public, internal, metrics, HTTP port.
for _ in $(seq 100); do [ "$(wc -l <"$SCRATCH/ports" 2>/dev/null || echo 0)" -ge 2 ] && break; sleep 0.1; done
if [ "$(wc -l <"$SCRATCH/ports" 2>/dev/null || echo 0)" -lt 2 ]; then
  echo "FAIL: the coordinator wrote no ports"; cat "$SCRATCH/coordinator.log"; exit 1
fi
PUBLIC=$(sed -n 1p "$SCRATCH/ports") INTERNAL=$(sed -n 2p "$SCRATCH/ports")
for w in 0 1; do
  ns=$([ $w = 0 ] && echo "$NS_W0" || echo "$NS_W1") host=$([ $w = 0 ] && echo "$W0" || echo "$W1")
  ip netns exec "$ns" "$CLI" worker --coordinator "$C:$INTERNAL" --model "$MODEL" --device cpu \
    --listen "$host:0" --rank-hint $w --kv-cache-mb 64 >"$SCRATCH/worker$w.log" 2>&1 &
  PIDS+=($!)
done

echo "What is 58 + 17?" | ip netns exec "$NS_C" "$CLI" chat --server "$C:$PUBLIC" \
  --wait-ready-s 120 --max-tokens 200 --reasoning low --temperature 0 >"$SCRATCH/chat.log" 2>&1
rc=$?
cat "$SCRATCH/chat.log"
fail() {
  echo "FAIL: $1"
  for f in coordinator worker0 worker1; do echo "--- $f"; tail -n 20 "$SCRATCH/$f.log"; done
  exit 1
}
[ $rc = 0 ] || fail "chat exited $rc"
grep -q "\[final\] 58 + 17 = 75." "$SCRATCH/chat.log" || fail "no final answer"
grep -q "all 2 workers ready" "$SCRATCH/coordinator.log" || fail "the world of two never formed"
grep -q "rank 0 of 2" "$SCRATCH/worker0.log" && grep -q "rank 1 of 2" "$SCRATCH/worker1.log" ||
  fail "the workers are not ranks 0 and 1 of 2"
echo "PASS: coordinator on $C, workers on $W0 and $W1, served across the bridge"
