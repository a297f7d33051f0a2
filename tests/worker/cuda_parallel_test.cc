// The sharded model on the GPU: two ranks on one device (CudaOps each), their collectives
// staged through host memory over Gloo (StagedCommunicator, what `--comm gloo` runs: NCCL
// refuses two ranks on one GPU). Exercises the CUDA side of the parallel forward pass (padded
// token slices, Zero, the dispatcher's packing on device memory, the vocab-parallel lm_head)
// against the transformers fixtures. Skips with GPTOSS_NO_GPU without a usable GPU.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/core/status.h"
#include "kernels/cuda/cuda_ops.h"
#include "tests/kernels/cuda_test_util.h"
#include "tests/worker/golden_fixture.h"
#include "tests/worker/model_io_test_util.h"
#include "tests/worker/multi_rank.h"
#include "worker/comm/staged_communicator.h"
#include "worker/model/device_weights.h"
#include "worker/model/safetensors.h"
#include "tests/worker/simple_runner.h"
#include "worker/model/weights.h"

namespace gptoss {
namespace {

// As cuda_model_test: bf16 activations keep the logits within a few bf16 ulps of the largest.
constexpr double kBf16Tolerance = 2e-2;

class CudaParallelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaParallelTest, TwoRanksOnOneGpuMatchTransformers) {
  GPTOSS_REQUIRE_GPU();
  auto golden = testing::LoadGoldenCase(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  const std::string dir = testing::ScratchDir("cuda_parallel_" + GetParam());
  ASSERT_TRUE(testing::WriteGoldenCheckpoint(*golden, dir).ok());
  const ModelConfig& c = golden->config;
  const int world = 2;
  std::vector<std::vector<std::vector<float>>> logits(world);
  absl::Status st = testing::RunRanks(world, [&](int rank, GlooCommunicator& gloo) -> absl::Status {
    GPTOSS_ASSIGN_OR_RETURN(auto ops, cuda::CudaOps::Create(0));
    StagedCommunicator comm(ops.get(), &gloo);
    GPTOSS_ASSIGN_OR_RETURN(auto ckpt, Checkpoint::Open(dir));
    GPTOSS_ASSIGN_OR_RETURN(ParallelLayout layout,
                            ParallelLayout::Create(rank, world, c.num_attention_heads,
                                                   c.num_key_value_heads, c.num_local_experts));
    GPTOSS_ASSIGN_OR_RETURN(ModelWeights host, LoadWeights(*ckpt, c, layout));
    GPTOSS_ASSIGN_OR_RETURN(OwnedWeights device, UploadWeights(host, *ops));
    SimpleRunner::Options options;
    options.max_seqs = 1;
    options.max_len = 256;
    options.block_size = 8;
    options.comm = &comm;
    GPTOSS_ASSIGN_OR_RETURN(auto runner, SimpleRunner::Create(c, device.weights, ops.get(), options));
    for (const auto& seq : golden->sequences) {
      runner->ResetAll();
      GPTOSS_ASSIGN_OR_RETURN(std::vector<float> l, runner->PromptLogits(seq.full()));
      logits[rank].push_back(std::move(l));
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  for (size_t s = 0; s < golden->sequences.size(); ++s) {
    const auto& seq = golden->sequences[s];
    ASSERT_EQ(logits[0][s].size(), seq.logits.size());
    EXPECT_EQ(logits[0][s], logits[1][s]) << "both ranks end with the same logits";
    const double err =
        testing::RelativeMaxError(logits[0][s].data(), seq.logits.data(), seq.logits.size());
    std::printf("[gpu parallel %s seq %zu] 2 ranks on one GPU vs transformers: %.3g\n",
                GetParam().c_str(), s, err);
    EXPECT_LE(err, kBf16Tolerance);
  }
}

// The golden cases whose heads, kv heads and experts divide by 2.
INSTANTIATE_TEST_SUITE_P(Cases, CudaParallelTest,
                         ::testing::Values("mha_top1", "swa_yarn", "deep_gqa"));

}  // namespace
}  // namespace gptoss
