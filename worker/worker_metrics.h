// WorkerMetrics: one worker rank's Prometheus metrics (served by `gptoss-worker --metrics-port`;
// conventions in worker/common/metrics.h). Every series carries the rank.
//  - Steps: gptoss_worker_step_seconds (the whole step on this rank), ..._communication_seconds
//    (inside collectives), gptoss_worker_communication_bytes_total (sent to other ranks).
//  - MoE: gptoss_moe_exchange_seconds{direction=dispatch|combine} and
//    gptoss_moe_exchange_bytes_total{direction}: the expert all-to-alls;
//    gptoss_expert_tokens_total{layer, expert}: token-expert assignments of the rows this rank
//    routed (every token is routed by exactly one rank, so over all ranks the sum is tokens x
//    top-k x layers); gptoss_expert_imbalance{layer}: max over mean tokens per expert over the
//    last `window` steps (1 = perfectly balanced; top-k of E experts makes E/k the worst);
//    gptoss_moe_destination_tokens_total{destination}: token-expert assignments this rank
//    routed to the experts of each rank (summed over the sources, the load of each rank: its
//    max over mean is the imbalance between ranks).
// Cardinality: layers x experts series (gpt-oss-120b: 36 x 128 = 4608, a few hundred KB per
// scrape — fine for one Prometheus per cluster). --expert-metrics layer keeps only the
// per-layer imbalance (36 series), off drops the MoE routing metrics (and the per-layer
// read-back of the routing that a single GPU needs for them).
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "worker/comm/expert_dispatcher.h"

namespace gptoss {

enum class ExpertMetrics { kPerExpert, kPerLayer, kOff };

class WorkerMetrics final : public MoeObserver {
 public:
  WorkerMetrics(std::shared_ptr<prometheus::Registry> registry, int rank, int world_size,
                int num_layers, int num_experts, ExpertMetrics mode, int window = 64);

  // MoeObserver (the step thread).
  void OnRouted(int layer, const std::vector<int32_t>& ids, int64_t num_tokens,
                int top_k) override;
  void OnExchange(const char* direction, double seconds, uint64_t bytes) override;

  // One executed step's figures (the step thread).
  void Step(double seconds, double comm_seconds, uint64_t comm_bytes);

 private:
  const int num_layers_, num_experts_;
  const ExpertMetrics mode_;
  const size_t window_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Histogram *step_, *comm_;
  prometheus::Counter* comm_bytes_;
  prometheus::Histogram *dispatch_s_, *combine_s_;
  prometheus::Counter *dispatch_bytes_, *combine_bytes_;
  std::vector<prometheus::Counter*> expert_tokens_;  // [layer * E + expert]
  std::vector<prometheus::Gauge*> imbalance_;        // [layer]
  std::vector<prometheus::Counter*> destination_;    // [rank owning the expert]
  int experts_per_rank_ = 1;
  // Sliding window of per-step counts [layer * E + expert] and their running sum.
  std::vector<int64_t> current_, window_sum_;
  std::deque<std::vector<int64_t>> history_;
};

}  // namespace gptoss
