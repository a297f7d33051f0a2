// CpuOps::ApplyPenalties and CpuOps::TopLogprobs (the ops the engine added to kernels/ops.h):
// exact values on hand-made logits and argument checking.
#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"

namespace gptoss {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(EngineLogitOpsTest, PenaltiesFollowTheContract) {
  CpuOps ops;
  // Row 0: repetition 2 on ids 0 (positive logit, prompt only) and 1 (negative, completion x2),
  // then frequency 0.5 and presence 1 on id 1 only. Row 1: no penalties, padding only.
  std::vector<float> logits = {4, -2, 3, 1, 1, 1, 1, 1};
  std::vector<int32_t> tokens = {0, 1, -1, -1, -1, -1};
  std::vector<int32_t> counts = {0, 2, 0, 0, 0, 0};
  TensorView l(logits.data(), DType::kF32, {2, 4});
  TensorView t(tokens.data(), DType::kI32, {2, 3});
  TensorView c(counts.data(), DType::kI32, {2, 3});
  std::vector<PenaltyParams> params(2);
  params[0] = {/*presence=*/1.0f, /*frequency=*/0.5f, /*repetition=*/2.0f};
  ASSERT_TRUE(ops.ApplyPenalties(l, t, c, params).ok());
  // id 0: 4 / 2 = 2; id 1: -2 * 2 - (0.5 * 2 + 1) = -6; id 2 untouched.
  EXPECT_THAT(logits, ElementsAre(2, -6, 3, 1, 1, 1, 1, 1));
}

TEST(EngineLogitOpsTest, PenaltiesRejectBadArguments) {
  CpuOps ops;
  std::vector<float> logits(8, 0.0f);
  std::vector<int32_t> tokens = {4, -1, -1, -1}, counts = {0, 0, 0, 0};
  TensorView l(logits.data(), DType::kF32, {2, 4});
  TensorView t(tokens.data(), DType::kI32, {2, 2});
  TensorView c(counts.data(), DType::kI32, {2, 2});
  std::vector<PenaltyParams> params(2);
  auto s = ops.ApplyPenalties(l, t, c, params);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("token 4"));
  tokens[0] = 1;
  counts[0] = -1;
  EXPECT_THAT(ops.ApplyPenalties(l, t, c, params).message(), HasSubstr("negative count"));
  counts[0] = 0;
  params[1].repetition = 0.0f;
  EXPECT_THAT(ops.ApplyPenalties(l, t, c, params).message(), HasSubstr("repetition"));
  params.pop_back();
  EXPECT_EQ(ops.ApplyPenalties(l, t, c, params).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(logits, ::testing::Each(0.0f));  // nothing written on error
}

TEST(EngineLogitOpsTest, TopLogprobsAreSortedLogSoftmax) {
  CpuOps ops;
  std::vector<float> logits = {1, 3, 3, 0};
  std::vector<int32_t> ids(3);
  std::vector<float> lps(3);
  TensorView l(logits.data(), DType::kF32, {1, 4});
  ASSERT_TRUE(ops.TopLogprobs(l, TensorView(ids.data(), DType::kI32, {1, 3}),
                              TensorView(lps.data(), DType::kF32, {1, 3}))
                  .ok());
  EXPECT_THAT(ids, ElementsAre(1, 2, 0));  // tie between 1 and 2: lower id first
  const double lse = 3.0 + std::log(std::exp(-2.0) + 2.0 + std::exp(-3.0));
  EXPECT_NEAR(lps[0], 3.0 - lse, 1e-6);
  EXPECT_EQ(lps[0], lps[1]);
  EXPECT_NEAR(lps[2], 1.0 - lse, 1e-6);
  // n > V and mismatched shapes are rejected.
  std::vector<int32_t> ids5(5);
  std::vector<float> lps5(5);
  EXPECT_EQ(ops.TopLogprobs(l, TensorView(ids5.data(), DType::kI32, {1, 5}),
                            TensorView(lps5.data(), DType::kF32, {1, 5}))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ops.TopLogprobs(l, TensorView(ids.data(), DType::kI32, {1, 3}),
                            TensorView(lps.data(), DType::kF32, {1, 2}))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gptoss
