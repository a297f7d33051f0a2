// `gptoss logits` and `gptoss generate`: run a checkpoint on the CPU through the serving engine
// (CpuOps + Transformer under the worker's StepExecutor, tools/cli/local_runner.h). Both print
// exactly one message on failure.
//
//   gptoss logits   --model DIR --ids "1 2 3" --out FILE.safetensors [--world-size N]
//       writes one F32 tensor `logits` [n_ids, vocab]: the logits at every position.
//   gptoss generate --model DIR --ids "..." [--max-tokens N] [--temperature T] [--top-p P]
//                   [--top-k K] [--min-p M] [--seed S] [--world-size N]
//       prints the generated ids on one line, space separated; generation stops after
//       max-tokens ids or after an eos id of the config (which is printed).
// --world-size N runs the model sharded over N local ranks (threads of this process, each
// loading only its shard, joined by Gloo over loopback): the same ids as world size 1.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "tools/cli/commands.h"
#include "tools/cli/local_runner.h"
#include "kernels/core/flags.h"
#if defined(GPTOSS_HAVE_GLOO)
#include "worker/comm/gloo_communicator.h"
#endif
#include "worker/model/config.h"
#include "worker/model/safetensors.h"
#include "worker/model/safetensors_writer.h"
#include "worker/model/weights.h"

namespace gptoss::cli {
namespace {

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "gptoss %s: %s\n", command, std::string(status.message()).c_str());
  return 1;
}

// A checkpoint directory opened for the CPU engine. The weights are views into `checkpoint`.
struct LoadedModel {
  std::unique_ptr<Checkpoint> checkpoint;
  ModelConfig config;
  ModelWeights weights;
  CpuOps ops;
  std::unique_ptr<LocalRunner> runner;
};

absl::StatusOr<std::unique_ptr<LoadedModel>> LoadModel(const std::string& dir, int max_len,
                                                       Communicator* comm) {
  auto model = std::make_unique<LoadedModel>();
  GPTOSS_ASSIGN_OR_RETURN(model->config, LoadModelConfig(dir + "/config.json"));
  GPTOSS_ASSIGN_OR_RETURN(model->checkpoint, Checkpoint::Open(dir));
  const ModelConfig& c = model->config;
  GPTOSS_ASSIGN_OR_RETURN(
      ParallelLayout layout,
      ParallelLayout::Create(comm ? comm->rank() : 0, comm ? comm->world_size() : 1,
                             c.num_attention_heads, c.num_key_value_heads, c.num_local_experts));
  GPTOSS_ASSIGN_OR_RETURN(model->weights, LoadWeights(*model->checkpoint, c, layout));
  GPTOSS_ASSIGN_OR_RETURN(model->runner,
                          LocalRunner::Create(c, model->weights, &model->ops, comm, max_len));
  return model;
}

// Rank 0's sampled ids, handed to the other ranks of a local world (they get no results back).
class IdBoard {
 public:
  int32_t Share(int rank, uint64_t index, int32_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    if (rank == 0) {
      ids_[index] = id;
      cv_.notify_all();
      return id;
    }
    // The ranks finish a step together (its collectives): rank 0's id follows at once, unless
    // rank 0 failed.
    cv_.wait_for(lock, std::chrono::seconds(300), [&] { return failed_ || ids_.count(index); });
    return ids_.count(index) ? ids_[index] : -1;
  }
  void Fail() {
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, int32_t> ids_;
  bool failed_ = false;
};

// Runs `work` on every rank of a world of `world` local ranks (they compute together and end
// with the same result) and returns rank 0's result, or the first error.
template <typename T>
absl::StatusOr<T> OnRanks(
    const std::string& dir, int max_len, int world,
    const std::function<absl::StatusOr<T>(LocalRunner&, const LocalRunner::Share&)>& work) {
  if (world == 1) {
    GPTOSS_ASSIGN_OR_RETURN(auto model, LoadModel(dir, max_len, nullptr));
    return work(*model->runner, nullptr);
  }
#if !defined(GPTOSS_HAVE_GLOO)
  return absl::UnimplementedError("--world-size > 1 needs Gloo, which this build lacks");
#else
  InMemoryRendezvous store;
  IdBoard board;
  std::vector<absl::StatusOr<T>> results(world, absl::UnknownError("rank did not run"));
  std::vector<std::thread> ranks;
  for (int r = 0; r < world; ++r) {
    ranks.emplace_back([&, r] {
      auto comm = GlooCommunicator::Create(r, world, store, GlooOptions{});
      if (!comm.ok()) {
        results[r] = comm.status();
      } else {
        auto model = LoadModel(dir, max_len, comm->get());
        const LocalRunner::Share share = [&board, r](uint64_t index, int32_t id) {
          return board.Share(r, index, id);
        };
        results[r] = model.ok() ? work(*(*model)->runner, share) : absl::StatusOr<T>(model.status());
      }
      if (r == 0 && !results[r].ok()) board.Fail();
    });
  }
  for (std::thread& t : ranks) t.join();
  for (const auto& result : results)
    if (!result.ok()) return result.status();
  return std::move(results[0]);
#endif
}

absl::StatusOr<int> WorldSize(const Flags& flags) {
  GPTOSS_ASSIGN_OR_RETURN(int64_t world, flags.GetInt("world-size", 1));
  if (world < 1 || world > 64)
    return absl::InvalidArgumentError(absl::StrCat("--world-size ", world, " not in [1, 64]"));
  return static_cast<int>(world);
}

// Parses --ids and checks them against the vocabulary before any work.
absl::StatusOr<std::vector<int32_t>> ParseIds(const Flags& flags, int vocab) {
  GPTOSS_ASSIGN_OR_RETURN(std::string text, flags.Required("ids"));
  GPTOSS_ASSIGN_OR_RETURN(std::vector<int> ids, ParseIdList(text));
  if (ids.empty()) return absl::InvalidArgumentError("--ids is empty");
  for (int id : ids) {
    if (id >= vocab)
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is outside the model's vocabulary of ", vocab));
  }
  return std::vector<int32_t>(ids.begin(), ids.end());
}

absl::Status Logits(int argc, char** argv) {
  GPTOSS_ASSIGN_OR_RETURN(Flags flags,
                          Flags::Parse(argc, argv, {"model", "ids", "out", "world-size"}));
  GPTOSS_ASSIGN_OR_RETURN(const int world, WorldSize(flags));
  GPTOSS_ASSIGN_OR_RETURN(std::string dir, flags.Required("model"));
  GPTOSS_ASSIGN_OR_RETURN(std::string out, flags.Required("out"));
  GPTOSS_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir + "/config.json"));
  GPTOSS_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIds(flags, config.vocab_size));
  if (static_cast<int64_t>(ids.size()) > config.max_position_embeddings)
    return absl::InvalidArgumentError(absl::StrCat(
        ids.size(), " ids exceed max_position_embeddings ", config.max_position_embeddings));
  GPTOSS_ASSIGN_OR_RETURN(
      std::vector<float> logits,
      OnRanks<std::vector<float>>(
          dir, static_cast<int>(ids.size()), world,
          [&](LocalRunner& runner, const LocalRunner::Share&) { return runner.PromptLogits(ids); }));
  TensorView view(logits.data(), DType::kF32,
                  {static_cast<int64_t>(ids.size()), config.vocab_size});
  return WriteSafetensors(out, {{"logits", view}});
}

absl::Status Generate(int argc, char** argv) {
  GPTOSS_ASSIGN_OR_RETURN(Flags flags, Flags::Parse(argc, argv,
                                             {"model", "ids", "max-tokens", "temperature", "top-p",
                                              "top-k", "min-p", "seed", "world-size"}));
  GPTOSS_ASSIGN_OR_RETURN(const int world, WorldSize(flags));
  GPTOSS_ASSIGN_OR_RETURN(std::string dir, flags.Required("model"));
  GPTOSS_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir + "/config.json"));
  GPTOSS_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIds(flags, config.vocab_size));
  GPTOSS_ASSIGN_OR_RETURN(int64_t max_tokens, flags.GetInt("max-tokens", 32));
  GPTOSS_ASSIGN_OR_RETURN(double temperature, flags.GetDouble("temperature", 0.0));
  GPTOSS_ASSIGN_OR_RETURN(double top_p, flags.GetDouble("top-p", 1.0));
  GPTOSS_ASSIGN_OR_RETURN(int64_t top_k, flags.GetInt("top-k", 0));
  GPTOSS_ASSIGN_OR_RETURN(double min_p, flags.GetDouble("min-p", 0.0));
  GPTOSS_ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0));
  const int64_t total = static_cast<int64_t>(ids.size()) + max_tokens;
  if (max_tokens < 0 || total > config.max_position_embeddings)
    return absl::InvalidArgumentError(
        absl::StrCat("--max-tokens ", max_tokens, " must be >= 0 and, with the ", ids.size(),
                     " prompt ids, fit max_position_embeddings ", config.max_position_embeddings));
  if (!(temperature >= 0.0) || temperature > 1e6)
    return absl::InvalidArgumentError(
        absl::StrCat("--temperature ", temperature, " must be in [0, 1e6]"));
  if (!(top_p > 0.0 && top_p <= 1.0))
    return absl::InvalidArgumentError(absl::StrCat("--top-p ", top_p, " must be in (0, 1]"));
  if (!(min_p >= 0.0 && min_p <= 1.0))
    return absl::InvalidArgumentError(absl::StrCat("--min-p ", min_p, " must be in [0, 1]"));
  if (top_k < 0 || top_k > config.vocab_size)
    return absl::InvalidArgumentError(absl::StrCat("--top-k ", top_k, " must be in [0, vocab]"));

  StepSampling sampling;
  sampling.temperature = static_cast<float>(temperature);
  sampling.top_p = static_cast<float>(top_p);
  sampling.top_k = static_cast<int>(top_k);
  sampling.min_p = static_cast<float>(min_p);
  sampling.seed = static_cast<uint64_t>(seed);
  const std::vector<int32_t> stop_ids(config.eos_token_ids.begin(), config.eos_token_ids.end());
  GPTOSS_ASSIGN_OR_RETURN(
      std::vector<int32_t> tokens,
      OnRanks<std::vector<int32_t>>(
          dir, static_cast<int>(std::max<int64_t>(total, 1)), world,
          [&](LocalRunner& runner, const LocalRunner::Share& share) {
            return runner.Generate(ids, static_cast<int>(max_tokens), sampling, stop_ids, share);
          }));
  std::printf("%s\n", absl::StrJoin(tokens, " ").c_str());
  return absl::OkStatus();
}

}  // namespace

int RunLogits(int argc, char** argv) {
  absl::Status status = Logits(argc, argv);
  return status.ok() ? 0 : Fail("logits", status);
}

int RunGenerate(int argc, char** argv) {
  absl::Status status = Generate(argc, argv);
  return status.ok() ? 0 : Fail("generate", status);
}

}  // namespace gptoss::cli
