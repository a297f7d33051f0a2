// gptoss-bench: prefill and decode throughput of the engine's forward pass on synthetic weights
// (no checkpoint file, no gRPC), with each figure set against the roofline measured in the same
// run: HBM bandwidth (device copy/read kernels) for decode, the bf16 GEMM rate for prefill.
//
//   gptoss-bench [--backend cuda|cpu] [--synthetic 20b|120b|tiny] [--seed N]
//                [--prefill 1024,8192] [--batches 1,8,64,256] [--context 512]
//                [--steps 16] [--warmup 3] [--prefill-repeats 2] [--block-size 16]
//                [--no-graphs] [--bandwidth-mib 2048] [--gemm 8192] [--json FILE]
//                [--world-size N] [--collectives 4096,65536,1048576]
//                [--kernels baseline,fused] [--breakdown] [--breakdown-steps 4]
//
// --kernels LIST measures the decode rows (and breakdowns) once per kernel set:
// "baseline" (the ops as first written) and "fused" (the decode path written for the roofline:
// MXFP4 MoE GEMVs with the combine fused, AddRmsNorm, RopeAppendKv; the default).
// --breakdown adds, per kernel set and batch, eager decode steps through ProfilingOps: each op
// class's device time per step with its bytes and FLOPs and the rates they imply.
//
// --world-size N (with --backend cpu) runs the same loops on N local ranks (threads, each with
// its own CpuOps and weight shard, joined by Gloo over loopback) and adds each phase's
// communication per step (rank 0's time inside collectives and bytes sent). --collectives
// SIZES times the collectives themselves at world size N instead (bytes per rank per call).
//
// Without a usable GPU (and --backend cuda, the default) it prints why and exits with status 2;
// --backend cpu --synthetic tiny runs the same harness on CpuOps (used by CI).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kernels/core/dtype.h"
#include "kernels/core/flags.h"
#include "kernels/core/status.h"
#include "kernels/ops_factory.h"
#include "nlohmann/json.hpp"
#include "tools/bench/bench_runner.h"
#include "tools/bench/breakdown.h"
#include "tools/bench/roofline.h"
#include "worker/model/device_weights.h"
#include "worker/model/presets.h"
#include "worker/model/weights.h"

#if defined(GPTOSS_HAVE_GLOO)
#include <thread>

#include "tools/bench/collectives_bench.h"
#include "worker/comm/gloo_communicator.h"
#endif

#if defined(GPTOSS_HAVE_CUDA)
#include "tools/bench/cuda_support.h"
#endif

namespace gptoss::bench {
namespace {

using json = nlohmann::json;

double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

absl::StatusOr<std::vector<int>> ParseList(const std::string& flag, const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 0)
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", std::string(part), "' is not a non-negative integer"));
    if (v > 0) out.push_back(v);
  }
  return out;
}

// Host memcpy bandwidth, the CPU backend's "HBM".
double HostCopyBandwidth(size_t bytes) {
  std::vector<char> a(bytes, 1), b(bytes);
  std::memcpy(b.data(), a.data(), bytes);
  const double start = Seconds();
  const int iterations = 4;
  for (int i = 0; i < iterations; ++i) std::memcpy((i % 2 ? a : b).data(), (i % 2 ? b : a).data(), bytes);
  return 2.0 * bytes * iterations / (Seconds() - start);
}

// Fills a BF16 or F32 tensor with pseudo-random values in [-1, 1). A GEMM of zeros draws less
// power and can run at higher clocks than real data: the rate must be measured on real values.
absl::Status FillRandom(Ops& ops, const TensorView& t, uint64_t seed) {
  const size_t n = static_cast<size_t>(t.numel());
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&] {  // a 64-bit LCG; its top 24 bits as a float in [-1, 1)
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(state >> 40) / static_cast<float>(1 << 23) - 1.0f;
  };
  if (t.dtype == DType::kBF16) {
    std::vector<uint16_t> host(n);
    for (uint16_t& v : host) v = F32ToBf16(next());
    return ops.CopyFromHost(t.data, host.data(), n * sizeof(uint16_t));
  }
  std::vector<float> host(n);
  for (float& v : host) v = next();
  return ops.CopyFromHost(t.data, host.data(), n * sizeof(float));
}

// bf16 GEMM rate through Ops::Linear: [n, n] x [n, n]^T, on pseudo-random inputs.
absl::StatusOr<double> GemmFlops(Ops& ops, int n, int iterations) {
  const DType act = ops.activation_dtype();
  const size_t bytes = static_cast<size_t>(n) * n * DTypeSize(DType::kBF16);
  GPTOSS_ASSIGN_OR_RETURN(auto x_mem, ops.Allocate(static_cast<size_t>(n) * n * DTypeSize(act)));
  GPTOSS_ASSIGN_OR_RETURN(auto w_mem, ops.Allocate(bytes));
  GPTOSS_ASSIGN_OR_RETURN(auto o_mem, ops.Allocate(static_cast<size_t>(n) * n * DTypeSize(act)));
  TensorView x(x_mem.get(), act, {n, n}, ops.device());
  TensorView w(w_mem.get(), DType::kBF16, {n, n}, ops.device());
  TensorView o(o_mem.get(), act, {n, n}, ops.device());
  GPTOSS_RETURN_IF_ERROR(FillRandom(ops, x, 1));
  GPTOSS_RETURN_IF_ERROR(FillRandom(ops, w, 2));
  GPTOSS_RETURN_IF_ERROR(ops.Linear(x, w, TensorView(), o));  // warm-up (plan selection)
  GPTOSS_RETURN_IF_ERROR(ops.Synchronize());
  const double start = Seconds();
  for (int i = 0; i < iterations; ++i) GPTOSS_RETURN_IF_ERROR(ops.Linear(x, w, TensorView(), o));
  GPTOSS_RETURN_IF_ERROR(ops.Synchronize());
  return 2.0 * n * static_cast<double>(n) * n * iterations / (Seconds() - start);
}

#if !defined(GPTOSS_HAVE_GLOO)
int CollectivesMain(int, const std::string&) {
  std::fprintf(stderr, "gptoss-bench: --collectives needs Gloo, which this build lacks\n");
  return 2;
}
#endif

struct Settings {
  std::string model;
  uint64_t seed;
  int context, steps, warmup, prefill_repeats, block_size;
  std::vector<int> prefills, batches;
  double hbm, gemm;  // the rooflines measured in this run
  // Kernel sets measured side by side (decode rows and breakdowns), made current by `select`;
  // {""} = the backend's only set.
  std::vector<std::string> kernels;
  std::function<absl::Status(const std::string&)> select;
  int breakdown_steps;  // 0: no --breakdown
};

// Per timed step of a phase: milliseconds inside collectives and kilobytes sent (this rank).
std::pair<double, double> CommPerStep(const PhaseResult& r) {
  if (r.steps <= 0) return {0.0, 0.0};
  return {1e3 * r.comm.seconds / r.steps, r.comm.bytes_sent / 1024.0 / r.steps};
}

// Synthetic weights, then the prefill and decode loops, on one rank. Rank 0 (or the only rank)
// prints the table; with `comm`, every rank of the world runs this at the same time.
// `save` gets the report after every measured row (rank 0): a run cut short by a timeout or a
// fault still leaves what it measured.
using SaveReport = std::function<void(const json&)>;

absl::Status MeasureRank(const Settings& s, Ops& ops, const ModelConfig& config,
                         const SyntheticFiller& filler, StepGraphs* graphs, Communicator* comm,
                         json& report, const SaveReport& save) {
  const bool print = comm == nullptr || comm->rank() == 0;
  const int world = comm ? comm->world_size() : 1;
  std::optional<ParallelLayout> layout;
  if (comm) {
    GPTOSS_ASSIGN_OR_RETURN(layout, ParallelLayout::Create(comm->rank(), world,
                                                           config.num_attention_heads,
                                                           config.num_key_value_heads,
                                                           config.num_local_experts));
  }
  const double fill_start = Seconds();
  GPTOSS_ASSIGN_OR_RETURN(OwnedWeights weights,
                          SyntheticWeights(config, s.seed, ops, filler, layout));
  GPTOSS_RETURN_IF_ERROR(ops.Synchronize());
  report["weights_gb"] = ShardBytes(weights.weights) / 1e9;
  report["weights_fill_seconds"] = Seconds() - fill_start;
  BenchRunner runner(config, weights.weights, &ops, s.block_size, comm, graphs);
  GPTOSS_RETURN_IF_ERROR(runner.Init());

  const ModelBytes mb = CountModelBytes(config);
  const double b1_bytes = DecodeStepBytes(config, 1, s.context);
  const double hbm = s.hbm, gemm = s.gemm;
  report["active_params_per_token"] = mb.active_params_per_token;
  report["batch1_bytes_per_token"] = b1_bytes;
  report["batch1_roofline_tok_per_s"] = hbm / b1_bytes;
  auto out = [&](const char* format, auto... args) {
    if (!print) return;
    std::printf(format, args...);
    std::fflush(stdout);  // line by line, also into a pipe: a killed run shows how far it got
  };
  auto checkpoint = [&] {
    if (print && save) save(report);
  };
  checkpoint();
  out("gptoss-bench: %s, model %s (synthetic seed %llu, %.2f GB of weights%s)\n",
      report["device"].get<std::string>().c_str(), s.model.c_str(),
      static_cast<unsigned long long>(s.seed), ShardBytes(weights.weights) / 1e9,
      world > 1 ? absl::StrCat(" on rank 0 of ", world).c_str() : "");
  out("  measured bandwidth %.0f GB/s, bf16 GEMM %.1f TFLOP/s; batch-1 decode moves "
      "%.3f GB/token -> roofline %.0f tok/s\n\n",
      hbm / 1e9, gemm / 1e12, b1_bytes / 1e9, hbm / b1_bytes);

  // --- Prefill. With several ranks, "comm ms" is the time rank 0 spent inside collectives per
  // step (waiting for the slowest peer included) and "KB sent" what it sent per step.
  out("  %-8s %8s %12s %10s %12s %10s %10s\n", "prefill", "tokens", "tok/s", "TFLOP/s",
      "of GEMM", "comm ms", "KB sent");
  json prefill_rows = json::array();
  for (int len : s.prefills) {
    auto r = runner.Prefill(len, /*warmup=*/1, s.prefill_repeats, s.seed);
    if (!r.ok()) {
      out("  %-8s %8d  skipped: %s\n", "", len, std::string(r.status().message()).c_str());
      prefill_rows.push_back({{"tokens", len}, {"error", std::string(r.status().message())}});
      report["prefill"] = prefill_rows;
      checkpoint();
      continue;
    }
    const auto [comm_ms, comm_kb] = CommPerStep(*r);
    const double flops = PrefillFlops(config, len) / r->step_seconds();
    out("  %-8s %8d %12.0f %10.1f %11.1f%% %10.2f %10.0f\n", "", len, r->tokens_per_second(),
        flops / 1e12, gemm > 0 ? 100.0 * flops / gemm : 0.0, comm_ms, comm_kb);
    prefill_rows.push_back({{"tokens", len},
                            {"seconds", r->step_seconds()},
                            {"tok_per_s", r->tokens_per_second()},
                            {"tflops", flops / 1e12},
                            {"fraction_of_gemm", gemm > 0 ? flops / gemm : 0.0},
                            {"comm_ms_per_step", comm_ms},
                            {"comm_kb_sent_per_step", comm_kb}});
    report["prefill"] = prefill_rows;
    checkpoint();
  }
  report["prefill"] = prefill_rows;

  // --- Decode, once per kernel set.
  const bool several = s.kernels.size() > 1;
  out("\n  %-8s %8s %10s %12s %12s %10s %10s %14s %10s %10s%s\n", "decode", "batch", "step ms",
      "tok/s", "GB/step", "GB/s", "of HBM", "roofline tok/s", "comm ms", "KB sent",
      several ? "  kernels" : "");
  json decode_rows = json::array();
  const int mid_context = s.context + s.warmup + s.steps / 2;
  for (const std::string& kernels : s.kernels) {
    if (s.select) GPTOSS_RETURN_IF_ERROR(s.select(kernels));
    for (int batch : s.batches) {
        json row = {{"batch", batch}, {"context", s.context}};
      if (!kernels.empty()) row["kernels"] = kernels;
      auto r = runner.Decode(batch, s.context, s.warmup, s.steps, s.seed);
      if (!r.ok()) {
        out("  %-8s %8d  skipped: %s\n", "", batch, std::string(r.status().message()).c_str());
        row["error"] = std::string(r.status().message());
        decode_rows.push_back(row);
        report["decode"] = decode_rows;
        checkpoint();
        continue;
      }
      const auto [comm_ms, comm_kb] = CommPerStep(*r);
      const double bytes = DecodeStepBytes(config, batch, mid_context);
      const double achieved = bytes / r->step_seconds();
      const double roofline = batch * hbm / bytes;
      out("  %-8s %8d %10.3f %12.1f %12.3f %10.1f %9.1f%% %14.0f %10.2f %10.0f  %s\n", "", batch,
          1e3 * r->step_seconds(), r->tokens_per_second(), bytes / 1e9, achieved / 1e9,
          100.0 * achieved / hbm, roofline, comm_ms, comm_kb, kernels.c_str());
      row.update({{"step_ms", 1e3 * r->step_seconds()},
                  {"tok_per_s", r->tokens_per_second()},
                  {"bytes_per_step", bytes},
                  {"achieved_gbps", achieved / 1e9},
                  {"fraction_of_hbm", achieved / hbm},
                  {"roofline_tok_per_s", roofline},
                  {"comm_ms_per_step", comm_ms},
                  {"comm_kb_sent_per_step", comm_kb}});
      decode_rows.push_back(row);
      report["decode"] = decode_rows;
      checkpoint();
    }
  }
  report["decode"] = decode_rows;
  if (s.breakdown_steps <= 0 || comm != nullptr) return absl::OkStatus();

  // --- Where the time of an eager decode step goes, per op class.
  json breakdowns = json::array();
  for (const std::string& kernels : s.kernels) {
    if (s.select) GPTOSS_RETURN_IF_ERROR(s.select(kernels));
    for (int batch : s.batches) {
      BreakdownSettings bs;
      bs.batch = batch;
      bs.context = s.context;
      bs.steps = s.breakdown_steps;
      bs.block_size = s.block_size;
      bs.seed = s.seed;
      json entry = {{"batch", batch}, {"context", s.context}, {"steps", bs.steps}};
      if (!kernels.empty()) entry["kernels"] = kernels;
      auto b = ProfileDecode(config, weights.weights, &ops, bs);
      if (!b.ok()) {
        out("\n  breakdown, batch %d: skipped: %s\n", batch,
            std::string(b.status().message()).c_str());
        entry["error"] = std::string(b.status().message());
        breakdowns.push_back(entry);
        report["breakdown"] = breakdowns;
        checkpoint();
        continue;
      }
      out("\n  breakdown: batch %d, context %d%s%s (eager, %d steps; per step, device time)\n",
          batch, s.context, kernels.empty() ? "" : ", kernels ", kernels.c_str(), bs.steps);
      out("  %-28s %6s %9s %7s %10s %9s %8s %9s %8s\n", "op", "calls", "ms", "share", "MB",
          "GB/s", "of HBM", "GFLOP", "TFLOP/s");
      json rows = json::array();
      for (const ProfilingOps::Row& r : b->rows) {
        const double gbps = r.seconds > 0 ? r.bytes / r.seconds / 1e9 : 0.0;
        const double tflops = r.seconds > 0 ? r.flops / r.seconds / 1e12 : 0.0;
        const double share = b->op_seconds > 0 ? r.seconds / b->op_seconds : 0.0;
        out("  %-28s %6lld %9.3f %6.1f%% %10.2f %9.1f %7.1f%% %9.3f %8.2f\n", r.op.c_str(),
            static_cast<long long>(r.calls), 1e3 * r.seconds, 100.0 * share, r.bytes / 1e6, gbps,
            hbm > 0 ? 100.0 * gbps * 1e9 / hbm : 0.0, r.flops / 1e9, tflops);
        rows.push_back({{"op", r.op}, {"calls", r.calls}, {"ms", 1e3 * r.seconds},
                        {"share", share}, {"bytes", r.bytes}, {"gbps", gbps},
                        {"fraction_of_hbm", hbm > 0 ? gbps * 1e9 / hbm : 0.0},
                        {"flops", r.flops}, {"tflops", tflops}});
      }
      out("  %-28s %6s %9.3f\n", "sum of ops", "", 1e3 * b->op_seconds);
      out("  host copies and waits per step (metadata upload, sampled ids): %.1f\n",
          b->host_syncs);
      entry["ops"] = rows;
      entry["host_syncs_per_step"] = b->host_syncs;
      entry["op_ms_per_step"] = 1e3 * b->op_seconds;
      breakdowns.push_back(entry);
      report["breakdown"] = breakdowns;
      checkpoint();
    }
  }
  report["decode"] = decode_rows;
  return absl::OkStatus();
}

int Run(int argc, char** argv) {
  auto flags = cli::Flags::Parse(argc, argv,
                                 {"backend", "synthetic", "seed", "prefill", "batches", "context",
                                  "steps", "warmup", "prefill-repeats", "block-size",
                                  "bandwidth-mib", "gemm", "json", "world-size", "collectives",
                                  "kernels", "breakdown-steps"},
                                 {"no-graphs", "breakdown", "help"});
  if (!flags.ok()) {
    std::fprintf(stderr, "gptoss-bench: %s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  if (flags->Has("help")) {
    std::printf("see the header of tools/bench/bench_main.cc or docs/GPU.md\n");
    return 0;
  }
  const std::string backend = flags->GetOr("backend", "cuda");
  const std::string model = flags->GetOr("synthetic", backend == "cpu" ? "tiny" : "20b");
  auto get_int = [&](const char* name, int64_t fallback) -> int64_t {
    auto v = flags->GetInt(name, fallback);
    if (!v.ok()) {
      std::fprintf(stderr, "gptoss-bench: %s\n", std::string(v.status().message()).c_str());
      std::exit(2);
    }
    return *v;
  };
  const uint64_t seed = static_cast<uint64_t>(get_int("seed", 1));
  const int context = static_cast<int>(get_int("context", 512));
  const int steps = static_cast<int>(get_int("steps", 16));
  const int warmup = static_cast<int>(get_int("warmup", 3));
  const int prefill_repeats = static_cast<int>(get_int("prefill-repeats", 2));
  const int block_size = static_cast<int>(get_int("block-size", 16));
  const int world = static_cast<int>(get_int("world-size", 1));
  const int64_t bandwidth_mib = get_int("bandwidth-mib", 2048);
  const int gemm_n = static_cast<int>(get_int("gemm", backend == "cpu" ? 0 : 8192));
  const int breakdown_steps = static_cast<int>(get_int("breakdown-steps", 4));
  auto prefills = ParseList("prefill", flags->GetOr("prefill", "1024,8192"));
  auto batches = ParseList("batches", flags->GetOr("batches", "1,8,64,256"));
  if (!prefills.ok() || !batches.ok()) {
    std::fprintf(stderr, "gptoss-bench: %s\n",
                 std::string((prefills.ok() ? batches.status() : prefills.status()).message()).c_str());
    return 2;
  }
  if (world < 1 || world > 64 || (world > 1 && backend != "cpu")) {
    std::fprintf(stderr, "gptoss-bench: --world-size must be in [1, 64]; more than one rank runs "
                         "on --backend cpu (local ranks joined by Gloo)\n");
    return 2;
  }
  if (auto sizes = flags->Get("collectives")) return CollectivesMain(world, *sizes);
  if (context < 0 || steps < 1 || warmup < 0 || prefill_repeats < 1 || block_size < 1 ||
      breakdown_steps < 1) {
    std::fprintf(stderr, "gptoss-bench: --context >= 0, --steps >= 1, --warmup >= 0, "
                         "--prefill-repeats >= 1, --block-size >= 1 and --breakdown-steps >= 1 "
                         "are required\n");
    return 2;
  }

  auto ops_or = CreateOps(backend);
  if (!ops_or.ok()) {
    std::fprintf(stderr, "gptoss-bench: backend '%s' is not available: %s\n", backend.c_str(),
                 std::string(ops_or.status().message()).c_str());
    return 2;
  }
  std::unique_ptr<Ops> ops = std::move(*ops_or);
  auto config_or = PresetConfig(model);
  if (!config_or.ok()) {
    std::fprintf(stderr, "gptoss-bench: --synthetic: %s\n", std::string(config_or.status().message()).c_str());
    return 2;
  }
  const ModelConfig config = *config_or;

  json report;
  report["backend"] = backend;
  report["model"] = model;
  report["seed"] = seed;
  SyntheticFiller filler = FillSyntheticHost;
  // CUDA graphs of decode steps, as the worker replays them (null on the CPU or --no-graphs).
  std::unique_ptr<StepGraphs> graphs;
  if (!flags->Has("no-graphs")) graphs = CreateStepGraphs(ops.get());
#if defined(GPTOSS_HAVE_CUDA)
  std::unique_ptr<CudaSupport> cuda;
  if (ops->device() == Device::kCuda) {
    auto support = CudaSupport::Create(ops.get());
    if (!support.ok()) {
      std::fprintf(stderr, "gptoss-bench: %s\n", std::string(support.status().message()).c_str());
      return 1;
    }
    cuda = std::move(*support);
    filler = cuda->Filler();
    report["device"] = cuda->device_name();
    report["datasheet_hbm_gbps"] = cuda->datasheet_bandwidth() / 1e9;
  }
#endif
  if (!report.contains("device")) report["device"] = "host CPU";
  // --kernels: the kernel sets to measure side by side (kernels/ops_factory.h; the CPU computes
  // the same compositions under both names).
  std::vector<std::string> kernel_sets = {""};
  std::function<absl::Status(const std::string&)> select_kernels;
  if (auto list = flags->Get("kernels")) {
    kernel_sets = absl::StrSplit(*list, ',', absl::SkipEmpty());
    select_kernels = [&ops](const std::string& name) { return SelectKernelSet(ops.get(), name); };
    for (const std::string& name : kernel_sets) {
      if (absl::Status st = select_kernels(name); !st.ok()) {
        std::fprintf(stderr, "gptoss-bench: --kernels: %s\n", std::string(st.message()).c_str());
        return 2;
      }
    }
    if (kernel_sets.empty()) {
      std::fprintf(stderr, "gptoss-bench: --kernels names no kernel set (fused,baseline)\n");
      return 2;
    }
  }
  report["kernels"] = kernel_sets;
  report["cuda_graphs"] = graphs != nullptr;
  auto fail = [](const char* what, const absl::Status& st) {
    std::fprintf(stderr, "gptoss-bench: %s: %s\n", what, std::string(st.message()).c_str());
    return 1;
  };

  // --- Rooflines measured in this run.
  double hbm = 0;
  const size_t probe_bytes = static_cast<size_t>(bandwidth_mib) << 20;
#if defined(GPTOSS_HAVE_CUDA)
  if (cuda) {
    auto bw = cuda->MeasureBandwidth(probe_bytes, 10);
    if (!bw.ok()) return fail("bandwidth probe", bw.status());
    hbm = bw->read_bytes_per_s;  // decode is read-dominated
    report["hbm_copy_gbps"] = bw->copy_bytes_per_s / 1e9;
    report["hbm_read_gbps"] = bw->read_bytes_per_s / 1e9;
  }
#endif
  if (hbm == 0) {
    hbm = HostCopyBandwidth(std::min<size_t>(probe_bytes, size_t{256} << 20));
    report["host_copy_gbps"] = hbm / 1e9;
  }
  double gemm = 0;
  if (gemm_n > 0) {
    auto flops = GemmFlops(*ops, gemm_n, 10);
    if (!flops.ok()) return fail("GEMM probe", flops.status());
    gemm = *flops;
    report["bf16_gemm_tflops"] = gemm / 1e12;
  }

  // --json FILE is rewritten (atomically: a temporary file renamed over it) after every row.
  const std::optional<std::string> json_path = flags->Get("json");
  bool json_ok = true;
  SaveReport save = [&](const json& r) {
    if (!json_path) return;
    const std::string tmp = *json_path + ".tmp";
    std::ofstream out(tmp);
    out << r.dump(2) << "\n";
    out.close();
    json_ok = out && std::rename(tmp.c_str(), json_path->c_str()) == 0;
  };
  save(report);

  // --- The measured phases: on this process's ops, or on N local ranks (CPU, Gloo).
  Settings settings{model, seed, context, steps, warmup, prefill_repeats, block_size, *prefills,
                    *batches, hbm, gemm, kernel_sets, select_kernels,
                    flags->Has("breakdown") ? breakdown_steps : 0};
  if (world == 1) {
    if (absl::Status st =
            MeasureRank(settings, *ops, config, filler, graphs.get(), nullptr, report, save);
        !st.ok()) {
      report["error"] = std::string(st.message());
      save(report);
      return fail("measure", st);
    }
  } else {
#if defined(GPTOSS_HAVE_GLOO)
    report["world_size"] = world;
    InMemoryRendezvous store;
    std::vector<absl::Status> status(world);
    std::vector<json> reports(world, report);
    std::vector<std::thread> ranks;
    for (int r = 0; r < world; ++r) {
      ranks.emplace_back([&, r] {
        auto rank_ops = CreateOps("cpu");
        auto comm = GlooCommunicator::Create(r, world, store, GlooOptions{});
        if (!rank_ops.ok() || !comm.ok()) {
          status[r] = rank_ops.ok() ? comm.status() : rank_ops.status();
          return;
        }
        status[r] = MeasureRank(settings, **rank_ops, config, FillSyntheticHost, nullptr,
                                comm->get(), reports[r], r == 0 ? save : SaveReport());
      });
    }
    for (std::thread& t : ranks) t.join();
    for (const absl::Status& st : status)
      if (!st.ok()) return fail("measure", st);
    report = reports[0];
    // Every rank's weight bytes (rank 0's report has its own only).
    json per_rank = json::array();
    for (const json& r : reports) per_rank.push_back(r["weights_gb"]);
    report["weights_gb_per_rank"] = per_rank;
#else
    return fail("--world-size", absl::UnimplementedError("this build has no Gloo"));
#endif
  }
  if (graphs) {
    report["graphs_captured"] = graphs->num_graphs();
    if (!graphs->capture_error().empty()) {
      report["graph_capture_error"] = graphs->capture_error();
      std::printf("\n  note: %s\n", graphs->capture_error().c_str());
    }
  }

  const std::string text = report.dump(2);
  save(report);
  if (!json_ok) {
    std::fprintf(stderr, "gptoss-bench: cannot write %s\n", json_path->c_str());
    return 1;
  }
  std::printf("\n%s\n", text.c_str());
  return 0;
}

}  // namespace
}  // namespace gptoss::bench

int main(int argc, char** argv) { return gptoss::bench::Run(argc - 1, argv + 1); }
