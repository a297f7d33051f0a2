// The gptoss-worker process (also `gptoss worker`, which `gptoss serve` starts):
//   gptoss-worker --coordinator HOST:PORT --model DIR [--device auto|cpu|cuda|null|null:US]
//                 [--listen HOST:PORT]
//                 [--advertise HOST] [--rank-hint N] [--kv-cache-mb MB] [--register-timeout-s S]
//                 [--collective-timeout-s S] [--dispatch-fixed-max-tokens 32]
//                 [--comm auto|nccl|gloo] [--metrics-port P [--metrics-host H]]
//                 [--expert-metrics expert|layer|off] [--cuda-graphs on|off]
//                 [--kernels fused|baseline]
// --device auto (default) takes the GPU when this build has CUDA and a usable sm_90 device, else
// the CPU (kernels/ops_factory.h); --device null loads no model and answers each plan at once
// (StepExecutor::CreateNull: the control plane without compute); null:US holds each step US
// microseconds first, as a GPU forward pass would (what the control plane must hide).
// --kv-cache-mb is what this rank offers the KV cache (default 512 on the CPU, 8192 on a GPU, 4
// TiB on the null device, which allocates none); the coordinator sizes both pools from the
// smallest offer.
// Life cycle (worker.proto): serve gptoss.v1.Worker on --listen (port 0 picks a free one),
// register with the coordinator (retrying while it is unreachable, so workers may start before
// or after it), load this rank's weight shard, allocate the KV pools the coordinator sized, report
// ready, execute steps until the coordinator closes the step stream (or SIGTERM/SIGINT), exit 0.
// At world size > 1 the rank joins its world's communicator before loading (Gloo over TCP on the
// --advertise/--listen host for CPU ranks, meeting through the coordinator's store; NCCL for
// GPU ranks; --comm gloo makes GPU ranks use Gloo through host memory, so that several can share
// one GPU for correctness runs); a collective that waits longer than --collective-timeout-s
// (default 30) for a peer that died or hangs fails the step, and the world must re-form. Steps of at most
// --dispatch-fixed-max-tokens tokens per rank dispatch MoE rows with a fixed capacity (no count
// exchange), larger ones with exact counts (worker/comm/expert_dispatcher.h); 0: always exact.
// --metrics-port serves this rank's Prometheus metrics (worker/worker_metrics.h) at
// http://H:P/metrics once it has loaded (H defaults to the advertised host); --expert-metrics
// bounds their cardinality (per expert, per layer, or no routing metrics). On a GPU at world
// size 1, decode steps are padded to buckets and replayed as CUDA graphs (--cuda-graphs off:
// every step eager; worker/engine/step_executor.h); --kernels baseline runs the CUDA ops as
// first written instead of the fused decode kernels (docs/GPU.md).
// A failure prints one line naming the problem and exits 1; a load failure is also reported to
// the coordinator through GetShardInfo ("failed: ...").
#pragma once

namespace gptoss {

int RunWorkerMain(int argc, char** argv);

}  // namespace gptoss
