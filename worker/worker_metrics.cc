#include "worker/worker_metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "worker/common/metrics.h"

namespace gptoss {

WorkerMetrics::WorkerMetrics(std::shared_ptr<prometheus::Registry> registry, int rank,
                             int world_size, int num_layers, int num_experts, ExpertMetrics mode,
                             int window)
    : num_layers_(num_layers),
      num_experts_(num_experts),
      mode_(mode),
      window_(static_cast<size_t>(std::max(window, 1))),
      registry_(std::move(registry)) {
  prometheus::Registry& r = *registry_;
  const std::string rank_label = absl::StrCat(rank);
  const auto buckets = metrics::StepBuckets();
  step_ = &prometheus::BuildHistogram()
               .Name("gptoss_worker_step_seconds")
               .Help("One step on this rank: forward pass, collectives and sampling")
               .Register(r)
               .Add({{"rank", rank_label}}, buckets);
  comm_ = &prometheus::BuildHistogram()
               .Name("gptoss_worker_communication_seconds")
               .Help("One step's time inside collectives on this rank")
               .Register(r)
               .Add({{"rank", rank_label}}, buckets);
  comm_bytes_ = &prometheus::BuildCounter()
                     .Name("gptoss_worker_communication_bytes_total")
                     .Help("Bytes this rank sent to other ranks")
                     .Register(r)
                     .Add({{"rank", rank_label}});
  auto& exchange = prometheus::BuildHistogram()
                       .Name("gptoss_moe_exchange_seconds")
                       .Help("One expert all-to-all on this rank, by direction")
                       .Register(r);
  dispatch_s_ = &exchange.Add({{"rank", rank_label}, {"direction", "dispatch"}}, buckets);
  combine_s_ = &exchange.Add({{"rank", rank_label}, {"direction", "combine"}}, buckets);
  auto& exchange_bytes = prometheus::BuildCounter()
                             .Name("gptoss_moe_exchange_bytes_total")
                             .Help("Bytes this rank sent in expert all-to-alls, by direction")
                             .Register(r);
  dispatch_bytes_ = &exchange_bytes.Add({{"rank", rank_label}, {"direction", "dispatch"}});
  combine_bytes_ = &exchange_bytes.Add({{"rank", rank_label}, {"direction", "combine"}});
  if (mode_ == ExpertMetrics::kOff) return;
  auto& destination = prometheus::BuildCounter()
                          .Name("gptoss_moe_destination_tokens_total")
                          .Help("Token-expert assignments this rank routed to the experts of "
                                "each rank (the destination's load)")
                          .Register(r);
  experts_per_rank_ = std::max(1, num_experts / std::max(1, world_size));
  for (int d = 0; d < std::max(1, world_size); ++d)
    destination_.push_back(
        &destination.Add({{"rank", rank_label}, {"destination", absl::StrCat(d)}}));
  if (mode_ == ExpertMetrics::kPerExpert) {
    auto& tokens = prometheus::BuildCounter()
                       .Name("gptoss_expert_tokens_total")
                       .Help("Token-to-expert assignments this rank routed (top-k per token)")
                       .Register(r);
    for (int l = 0; l < num_layers; ++l)
      for (int e = 0; e < num_experts; ++e)
        expert_tokens_.push_back(&tokens.Add(
            {{"rank", rank_label}, {"layer", absl::StrCat(l)}, {"expert", absl::StrCat(e)}}));
  }
  auto& imbalance = prometheus::BuildGauge()
                        .Name("gptoss_expert_imbalance")
                        .Help("Max over mean tokens per expert in a layer, over the last "
                              "steps this rank routed (1 = balanced)")
                        .Register(r);
  for (int l = 0; l < num_layers; ++l)
    imbalance_.push_back(&imbalance.Add({{"rank", rank_label}, {"layer", absl::StrCat(l)}}));
  current_.assign(static_cast<size_t>(num_layers) * num_experts, 0);
  window_sum_ = current_;
}

void WorkerMetrics::OnRouted(int layer, const std::vector<int32_t>& ids, int64_t num_tokens,
                             int top_k) {
  if (mode_ == ExpertMetrics::kOff || layer < 0 || layer >= num_layers_) return;
  const size_t n = std::min(ids.size(), static_cast<size_t>(num_tokens * top_k));
  int64_t* counts = current_.data() + static_cast<size_t>(layer) * num_experts_;
  for (size_t i = 0; i < n; ++i)
    if (ids[i] >= 0 && ids[i] < num_experts_) ++counts[ids[i]];
}

void WorkerMetrics::OnExchange(const char* direction, double seconds, uint64_t bytes) {
  const bool dispatch = direction[0] == 'd';
  (dispatch ? dispatch_s_ : combine_s_)->Observe(seconds);
  (dispatch ? dispatch_bytes_ : combine_bytes_)->Increment(static_cast<double>(bytes));
}

void WorkerMetrics::Step(double seconds, double comm_seconds, uint64_t comm_bytes) {
  step_->Observe(seconds);
  comm_->Observe(comm_seconds);
  comm_bytes_->Increment(static_cast<double>(comm_bytes));
  if (mode_ == ExpertMetrics::kOff) return;
  // This step's counts go to the counters and into the window; the oldest step leaves it.
  for (size_t i = 0; i < current_.size(); ++i) {
    if (current_[i] == 0) continue;
    if (!expert_tokens_.empty()) expert_tokens_[i]->Increment(static_cast<double>(current_[i]));
    const size_t owner = static_cast<size_t>(i % num_experts_) / experts_per_rank_;
    if (owner < destination_.size())
      destination_[owner]->Increment(static_cast<double>(current_[i]));
    window_sum_[i] += current_[i];
  }
  history_.push_back(current_);
  if (history_.size() > window_) {
    const std::vector<int64_t>& oldest = history_.front();
    for (size_t i = 0; i < oldest.size(); ++i) window_sum_[i] -= oldest[i];
    history_.pop_front();
  }
  std::fill(current_.begin(), current_.end(), 0);
  for (int l = 0; l < num_layers_; ++l) {
    const int64_t* c = window_sum_.data() + static_cast<size_t>(l) * num_experts_;
    int64_t total = 0, most = 0;
    for (int e = 0; e < num_experts_; ++e) total += c[e], most = std::max(most, c[e]);
    if (total > 0)
      imbalance_[l]->Set(static_cast<double>(most) * num_experts_ / static_cast<double>(total));
  }
}

}  // namespace gptoss
