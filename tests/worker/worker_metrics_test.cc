// A worker's metrics: routing counters per (layer, expert), the imbalance gauge over its
// sliding window, exchange and step figures.
#include "gtest/gtest.h"
#include "tests/metrics_test_util.h"
#include "worker/worker_metrics.h"

namespace gptoss {
namespace {

using testing::Value;

TEST(WorkerMetricsTest, RoutingCountsAndImbalanceOverTheWindow) {
  auto registry = std::make_shared<prometheus::Registry>();
  WorkerMetrics metrics(registry, /*rank=*/1, /*world=*/2, /*layers=*/2, /*experts=*/4,
                        ExpertMetrics::kPerExpert, /*window=*/2);
  // Step 1: layer 0 routes 3 tokens top-2 to experts {0,1},{0,2},{0,3}; layer 1 evenly.
  metrics.OnRouted(0, {0, 1, 0, 2, 0, 3}, 3, 2);
  metrics.OnRouted(1, {0, 1, 2, 3, 0, 1}, 3, 2);
  metrics.OnExchange("dispatch", 0.001, 640);
  metrics.OnExchange("combine", 0.002, 512);
  metrics.Step(0.01, 0.003, 1152);
  EXPECT_EQ(Value(*registry, "gptoss_expert_tokens_total", {{"layer", "0"}, {"expert", "0"}}), 3);
  EXPECT_EQ(Value(*registry, "gptoss_expert_tokens_total", {{"layer", "0"}}), 6);
  EXPECT_EQ(Value(*registry, "gptoss_expert_tokens_total", {{"rank", "1"}}), 12);
  // Experts 0-1 live on rank 0, 2-3 on rank 1: 3+1+2+2 = 8 assignments to rank 0, 4 to rank 1.
  EXPECT_EQ(Value(*registry, "gptoss_moe_destination_tokens_total", {{"destination", "0"}}), 8);
  EXPECT_EQ(Value(*registry, "gptoss_moe_destination_tokens_total", {{"destination", "1"}}), 4);
  // Layer 0: max 3 over mean 6/4 = 2; layer 1: max 2 over mean 1.5.
  EXPECT_DOUBLE_EQ(Value(*registry, "gptoss_expert_imbalance", {{"layer", "0"}}), 2.0);
  EXPECT_DOUBLE_EQ(Value(*registry, "gptoss_expert_imbalance", {{"layer", "1"}}), 2.0 / 1.5);
  EXPECT_EQ(Value(*registry, "gptoss_moe_exchange_bytes_total", {{"direction", "dispatch"}}), 640);
  EXPECT_EQ(Value(*registry, "gptoss_worker_communication_bytes_total"), 1152);
  // Two more steps of layer 0 spread evenly: the first step leaves the 2-step window.
  for (int i = 0; i < 2; ++i) {
    metrics.OnRouted(0, {0, 1, 2, 3}, 2, 2);
    metrics.Step(0.01, 0, 0);
  }
  EXPECT_DOUBLE_EQ(Value(*registry, "gptoss_expert_imbalance", {{"layer", "0"}}), 1.0);
  EXPECT_EQ(Value(*registry, "gptoss_expert_tokens_total", {{"layer", "0"}}), 6 + 8);
  // Ids outside the model are ignored, not counted.
  metrics.OnRouted(0, {7, -1}, 1, 2);
  metrics.Step(0.01, 0, 0);
  EXPECT_EQ(Value(*registry, "gptoss_expert_tokens_total", {{"layer", "0"}}), 14);
}

}  // namespace
}  // namespace gptoss
