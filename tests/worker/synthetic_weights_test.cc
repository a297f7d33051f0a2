// Synthetic weights (worker/model/device_weights.h) are the checkpoint generator's weights:
// byte-equal to a checkpoint WriteCheckpoint writes for the same (config, seed), and a model
// built from them computes the same logits as one loaded from that checkpoint. UploadWeights
// reproduces host weights exactly. Runs on the CPU backend; the GPU fill kernel is checked
// against the same host values in tests/kernels/cuda_graph_test.cc.
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/worker/model_io_test_util.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/device_weights.h"
#include "worker/model/safetensors.h"
#include "tests/worker/simple_runner.h"

namespace gptoss {
namespace {

constexpr uint64_t kSeed = 77;

class SyntheticWeightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = testing::SmallConfig();
    dir_ = testing::ScratchDir("synthetic_weights");
    CheckpointWriterOptions options;
    options.seed = kSeed;
    ASSERT_TRUE(WriteCheckpoint(config_, dir_, options).ok());
    auto ckpt = Checkpoint::Open(dir_);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    checkpoint_ = std::move(*ckpt);
  }

  ModelConfig config_;
  std::string dir_;
  std::unique_ptr<Checkpoint> checkpoint_;
  CpuOps ops_;
};

TEST_F(SyntheticWeightsTest, EveryTensorEqualsTheGeneratedCheckpoint) {
  for (const CheckpointTensor& t : CheckpointTensors(config_)) {
    auto stored = checkpoint_->Get(t.spec.name);
    ASSERT_TRUE(stored.ok()) << stored.status();
    HostTensor mine(t.spec.dtype, {stored->numel()});
    ASSERT_TRUE(FillSyntheticHost(PlanSyntheticFill(t, kSeed, config_.hidden_size), mine.view()).ok());
    ASSERT_EQ(std::memcmp(mine.view().data, stored->data, stored->bytes()), 0) << t.spec.name;
  }
}

TEST_F(SyntheticWeightsTest, SyntheticModelComputesTheCheckpointsLogits) {
  auto layout = ParallelLayout::Create(0, 1, config_.num_attention_heads, config_.num_key_value_heads,
                                       config_.num_local_experts);
  ASSERT_TRUE(layout.ok());
  auto loaded = LoadWeights(*checkpoint_, config_, *layout);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto synthetic = SyntheticWeights(config_, kSeed, ops_, FillSyntheticHost);
  ASSERT_TRUE(synthetic.ok()) << synthetic.status();
  auto uploaded = UploadWeights(*loaded, ops_);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(synthetic->bytes, CheckpointDataBytes(config_));

  const std::vector<int32_t> prompt = {3, 17, 250, 9, 511, 0, 42};
  std::vector<std::vector<float>> logits;
  for (const ModelWeights* w : {&*loaded, &synthetic->weights, &uploaded->weights}) {
    SimpleRunner::Options options;
    options.max_seqs = 1;
    options.max_len = 16;
    auto runner = SimpleRunner::Create(config_, *w, &ops_, options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    auto l = (*runner)->PromptLogits(prompt);
    ASSERT_TRUE(l.ok()) << l.status();
    logits.push_back(*l);
  }
  EXPECT_EQ(logits[0], logits[1]) << "synthetic weights differ from the checkpoint's";
  EXPECT_EQ(logits[0], logits[2]) << "uploaded weights differ from the host weights";
}

TEST(SyntheticWeightsErrors, FillerErrorsPropagate) {
  CpuOps ops;
  auto failing = [](const SyntheticFill&, TensorView) { return absl::ResourceExhaustedError("no room"); };
  auto w = SyntheticWeights(testing::SmallConfig(), 1, ops, failing);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace gptoss
