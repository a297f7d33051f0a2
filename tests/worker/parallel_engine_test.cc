// The serving engine (the real scheduler + StepExecutor) at world sizes 2 and 4, ranks as threads
// over Gloo, on a generated checkpoint: decode steps padded to buckets, the path that a CUDA
// graph replays over NCCL, give exactly the tokens of world size 1, and no step run through the
// graphs synchronizes with the host inside its forward pass: no copy to or from the host, no
// wait, no count exchange. The communicator here claims capturability and stands in for NCCL;
// the "graphs" run each step eagerly and count what a capture would refuse.
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/scheduler/scheduler.h"
#include "gtest/gtest.h"
#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/profiling_ops.h"
#include "tests/worker/model_io_test_util.h"
#include "tests/worker/multi_rank.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/engine/step_executor.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/safetensors.h"
#include "worker/model/weights.h"

namespace gptoss {
namespace {

constexpr int kMaxTokens = 16;

// Forwards to a host communicator, claims to be capturable, and counts the count exchanges made
// while `capturing` (a capture would fail on them: they wait for the host).
class CapturableComm final : public Communicator {
 public:
  explicit CapturableComm(Communicator* inner) : inner_(inner) {}
  int rank() const override { return inner_->rank(); }
  int world_size() const override { return inner_->world_size(); }
  Device device() const override { return inner_->device(); }
  bool capturable() const override { return true; }
  absl::Status AllReduceSum(TensorView inout) override { return inner_->AllReduceSum(inout); }
  absl::Status AllGather(const TensorView& in, TensorView out) override {
    return inner_->AllGather(in, out);
  }
  absl::Status ReduceScatterSum(const TensorView& in, TensorView out) override {
    return inner_->ReduceScatterSum(in, out);
  }
  absl::Status AllToAllV(const TensorView& send, const std::vector<int64_t>& send_counts,
                         TensorView recv, const std::vector<int64_t>& recv_counts) override {
    return inner_->AllToAllV(send, send_counts, recv, recv_counts);
  }
  absl::StatusOr<std::vector<int64_t>> ExchangeCounts(
      const std::vector<int64_t>& send_counts) override {
    exchanges_while_capturing += capturing;
    return inner_->ExchangeCounts(send_counts);
  }
  absl::Status Synchronize() override { return inner_->Synchronize(); }
  CommStats stats() const override { return inner_->stats(); }

  bool capturing = false;
  int exchanges_while_capturing = 0;

 private:
  Communicator* inner_;
};

// Runs each step as it comes and counts the host synchronizations inside it.
class CheckingGraphs final : public StepGraphs {
 public:
  CheckingGraphs(ProfilingOps* ops, CapturableComm* comm) : ops_(ops), comm_(comm) {}
  absl::Status Run(uint64_t key, const std::function<absl::Status()>& step) override {
    ++runs[key];
    ops_->Reset();
    comm_->capturing = true;
    const absl::Status st = step();
    comm_->capturing = false;
    GPTOSS_ASSIGN_OR_RETURN(const ProfilingOps::Summary summary, ops_->Report());
    host_syncs += summary.host_syncs;
    return st;
  }
  int num_graphs() const override { return static_cast<int>(runs.size()); }
  std::string capture_error() const override { return ""; }
  void Clear() override {}

  std::map<uint64_t, int> runs;
  int64_t host_syncs = 0;

 private:
  ProfilingOps* ops_;
  CapturableComm* comm_;
};

// Rank 0's step results, for the other ranks' schedulers (only rank 0 samples).
class ResultBoard {
 public:
  void Post(int64_t step, const StepResult& result) {
    std::lock_guard<std::mutex> lock(mu_);
    results_[step] = result;
    cv_.notify_all();
  }
  StepResult Wait(int64_t step) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return results_.count(step) > 0; });
    return results_[step];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, StepResult> results_;
};

class RoutedTokens final : public MoeObserver {
 public:
  void OnRouted(int layer, const std::vector<int32_t>&, int64_t num_tokens, int) override {
    tokens[layer] += num_tokens;
  }
  void OnExchange(const char*, double, uint64_t) override {}
  std::map<int, int64_t> tokens;
};

struct RankRun {
  std::map<SequenceId, std::vector<int32_t>> tokens;  // rank 0: every sequence's tokens
  int64_t padded_steps = 0, decode_steps = 0, graph_runs = 0, host_syncs = 0, processed = 0;
  int exchanges_while_capturing = 0;
  std::map<int, int64_t> routed;
};

class ParallelEngineTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    config_ = testing::SmallConfig();  // 4 heads, 2 kv heads, 4 experts: up to 2 ranks
    config_.num_key_value_heads = 4;   // ... and 4 ranks with this
    dir_ = testing::ScratchDir("parallel_engine");
    CheckpointWriterOptions options;
    options.seed = 23;
    ASSERT_TRUE(WriteCheckpoint(config_, dir_, options).ok());
    for (int len : {4, 9, 21}) {
      std::vector<int32_t> p;
      for (int i = 0; i < len; ++i) p.push_back((i * 41 + len * 7) % config_.vocab_size);
      prompts_.push_back(p);
    }
  }

  std::vector<RankRun> Run(int world, float temperature, DispatchOptions dispatch) {
    std::vector<RankRun> runs(world);
    ResultBoard board;
    const absl::Status st = testing::RunRanks(world, [&](int rank, GlooCommunicator& gloo) {
      return RunRank(rank, world, temperature, dispatch, gloo, board, runs[rank]);
    });
    EXPECT_TRUE(st.ok()) << st;
    return runs;
  }

  absl::Status RunRank(int rank, int world, float temperature, DispatchOptions dispatch,
                       GlooCommunicator& gloo, ResultBoard& board, RankRun& run) {
    GPTOSS_ASSIGN_OR_RETURN(auto ckpt, Checkpoint::Open(dir_));
    GPTOSS_ASSIGN_OR_RETURN(
        ParallelLayout layout,
        ParallelLayout::Create(rank, world, config_.num_attention_heads,
                               config_.num_key_value_heads, config_.num_local_experts));
    GPTOSS_ASSIGN_OR_RETURN(ModelWeights weights, LoadWeights(*ckpt, config_, layout));
    CpuOps cpu;
    GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<ProfilingOps> ops, ProfilingOps::Create(&cpu));
    CapturableComm comm(&gloo);
    SchedulerConfig sc;
    sc.kv.block_size = 4;
    sc.kv.num_full_blocks = 32;  // room for all three: they decode together
    sc.kv.num_sliding_blocks = 12;
    sc.kv.sliding_window = config_.sliding_window;
    sc.vocab_size = config_.vocab_size;
    sc.max_context_len = config_.max_position_embeddings;
    sc.max_num_seqs = 3;
    sc.max_batch_tokens = 16;
    FakeClock clock;
    GPTOSS_ASSIGN_OR_RETURN(auto scheduler, Scheduler::Create(sc, &clock));
    GPTOSS_ASSIGN_OR_RETURN(
        auto pool,
        KvCachePool::Create(config_, layout,
                            KvPoolSpec{sc.kv.block_size, sc.kv.num_full_blocks,
                                       sc.kv.num_sliding_blocks},
                            ops.get()));
    GPTOSS_ASSIGN_OR_RETURN(auto transformer,
                            Transformer::Create(config_, weights, layout, ops.get(),
                                                world > 1 ? &comm : nullptr, dispatch));
    RoutedTokens routed;
    transformer->SetMoeObserver(&routed);
    CheckingGraphs graphs(ops.get(), &comm);
    ExecutorGraphs eg;
    eg.graphs = world > 1 ? &graphs : nullptr;  // world size 1: the eager reference
    eg.max_batch = 4;
    GPTOSS_ASSIGN_OR_RETURN(auto executor,
                            StepExecutor::Create(config_, layout, ops.get(), transformer.get(),
                                                 pool.get(), world > 1 ? &comm : nullptr, eg));
    std::vector<SequenceId> ids;
    for (const auto& p : prompts_) {
      SequenceRequest r;
      r.prompt = p;
      r.max_tokens = kMaxTokens;
      r.sampling.temperature = temperature;
      r.sampling.seed = 5;
      GPTOSS_ASSIGN_OR_RETURN(SequenceId id, scheduler->Add(r));
      ids.push_back(id);
    }
    for (int64_t step = 0; step < 400 && !scheduler->idle(); ++step) {
      GPTOSS_ASSIGN_OR_RETURN(auto scheduled, scheduler->Schedule());
      bool decode = !scheduled.plan.sequences.empty();
      for (const auto& s : scheduled.plan.sequences) {
        run.processed += static_cast<int64_t>(s.token_ids.size());
        decode &= s.token_ids.size() == 1 && s.sample;
      }
      run.decode_steps += decode;
      GPTOSS_ASSIGN_OR_RETURN(StepResult result, executor->Execute(scheduled.plan));
      if (scheduled.plan.sequences.empty()) continue;
      if (rank == 0) {
        board.Post(step, result);
      } else {
        result = board.Wait(step);
      }
      GPTOSS_ASSIGN_OR_RETURN(auto updates, scheduler->OnStepResult(result));
      for (const SequenceUpdate& u : updates) run.tokens[u.id].push_back(u.token_id);
    }
    GPTOSS_CHECK_ARG(scheduler->idle(), "rank ", rank, ": the scheduler did not finish");
    run.padded_steps = executor->num_padded_steps();
    for (const auto& [key, n] : graphs.runs) run.graph_runs += n;
    run.host_syncs = graphs.host_syncs;
    run.exchanges_while_capturing = comm.exchanges_while_capturing;
    run.routed = routed.tokens;
    return absl::OkStatus();
  }

  // Checks world size N against 1 and returns rank 0's run.
  RankRun Expect(float temperature, DispatchOptions dispatch) {
    const int world = GetParam();
    SCOPED_TRACE(absl::StrCat("world ", world, ", temperature ", temperature,
                              ", fixed capacity up to ", dispatch.fixed_max_rows, " rows"));
    const std::vector<RankRun> single = Run(1, temperature, dispatch);
    const std::vector<RankRun> ranks = Run(world, temperature, dispatch);
    if (::testing::Test::HasFailure()) return {};
    EXPECT_EQ(ranks[0].tokens, single[0].tokens) << "world size N vs 1";
    int64_t graph_runs = 0;
    for (int r = 0; r < world; ++r) {
      SCOPED_TRACE(absl::StrCat("rank ", r));
      EXPECT_EQ(ranks[r].tokens, ranks[0].tokens) << "every rank's scheduler saw the same results";
      EXPECT_EQ(ranks[r].graph_runs, ranks[0].graph_runs) << "every rank pads alike";
      EXPECT_EQ(ranks[r].padded_steps, ranks[r].graph_runs);
      EXPECT_EQ(ranks[r].host_syncs, 0) << "a host copy or wait inside a graph-run step";
      EXPECT_EQ(ranks[r].exchanges_while_capturing, 0) << "a count exchange inside a graph-run step";
      graph_runs += ranks[r].graph_runs;
    }
    EXPECT_GT(graph_runs, 0);
    // The routing of every real token, once per layer, by the rank whose slice holds it.
    for (int l = 0; l < config_.num_hidden_layers; ++l) {
      int64_t routed = 0;
      for (const RankRun& r : ranks) routed += r.routed.count(l) ? r.routed.at(l) : 0;
      EXPECT_EQ(routed, ranks[0].processed) << "layer " << l;
    }
    return ranks[0];
  }

  ModelConfig config_;
  std::string dir_;
  std::vector<std::vector<int32_t>> prompts_;
};

TEST_P(ParallelEngineTest, PaddedDecodeGivesTheTokensOfOneRankWithoutHostSyncs) {
  for (float temperature : {0.0f, 0.9f}) {
    const RankRun run = Expect(temperature, DispatchOptions{});
    EXPECT_EQ(run.padded_steps, run.decode_steps) << "every decode bucket fits the fixed capacity";
  }
}

// A bucket whose slice exceeds the fixed capacity needs the exact mode (a count exchange): it
// runs eagerly, unpadded, and the tokens do not change.
TEST_P(ParallelEngineTest, BucketsBeyondTheFixedCapacityRunEagerly) {
  const RankRun run = Expect(0.0f, DispatchOptions{1});
  // At 2 ranks a bucket of 4 sequences has slices of 2 rows: eager. At 4 ranks every bucket fits.
  if (GetParam() == 2) {
    EXPECT_LT(run.padded_steps, run.decode_steps);
  } else {
    EXPECT_EQ(run.padded_steps, run.decode_steps);
  }
}

INSTANTIATE_TEST_SUITE_P(Worlds, ParallelEngineTest, ::testing::Values(2, 4));

}  // namespace
}  // namespace gptoss
