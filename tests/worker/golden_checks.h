// The golden check both backends run (golden_model_test on CpuOps, cuda_model_test on a GPU):
// every position's logits of prompt + the fixture's continuation against Hugging Face's, within
// `tolerance` of the largest reference value.
#pragma once

#include <cstdio>

#include "gtest/gtest.h"
#include "tests/worker/golden_fixture.h"
#include "tests/worker/simple_runner.h"

namespace gptoss::testing {

inline void ExpectAllPositionLogits(SimpleRunner& runner, const GoldenCase& golden,
                                    double tolerance, const char* label) {
  const int vocab = golden.config.vocab_size;
  for (size_t s = 0; s < golden.sequences.size(); ++s) {
    const GoldenSequence& seq = golden.sequences[s];
    auto logits = runner.PromptLogits(seq.full());
    ASSERT_TRUE(logits.ok()) << logits.status();
    ASSERT_EQ(logits->size(), seq.logits.size());
    const double err = RelativeMaxError(logits->data(), seq.logits.data(), seq.logits.size());
    std::printf("[%s seq %zu] all-position logits (%zu x %d): max|d|/max|ref| = %.3g\n", label, s,
                seq.logits.size() / vocab, vocab, err);
    EXPECT_LE(err, tolerance) << "sequence " << s;
  }
}

}  // namespace gptoss::testing
