#include "kernels/profiling_ops.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {
namespace {

double Bytes(const TensorView& t) { return t.empty() ? 0.0 : static_cast<double>(t.bytes()); }

// Bytes of one local expert (gate_up and down: blocks, scales, biases).
double ExpertBytes(const ExpertWeights& e) {
  if (e.num_local <= 0) return 0.0;
  return (Bytes(e.gate_up_blocks) + Bytes(e.gate_up_scales) + Bytes(e.gate_up_bias) +
          Bytes(e.down_blocks) + Bytes(e.down_scales) + Bytes(e.down_bias)) /
         e.num_local;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProfilingOps>> ProfilingOps::Create(Ops* inner) {
  GPTOSS_CHECK_ARG(inner != nullptr, "ProfilingOps: null ops");
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<OpTimer> timer, inner->CreateTimer());
  return std::unique_ptr<ProfilingOps>(new ProfilingOps(inner, std::move(timer)));
}

absl::Status ProfilingOps::Timed(std::string op, double bytes, double flops,
                                 const std::function<absl::Status()>& run) {
  GPTOSS_ASSIGN_OR_RETURN(const int begin, timer_->Mark());
  const absl::Status status = run();
  GPTOSS_ASSIGN_OR_RETURN(const int end, timer_->Mark());
  Call call;
  call.op = std::move(op);
  call.begin = begin;
  call.end = end;
  call.bytes = bytes;
  call.flops = flops;
  calls_.push_back(std::move(call));
  return status;
}

absl::Status ProfilingOps::SnapshotIntoLastCall(const TensorView& t) {
  GPTOSS_CHECK_ARG(t.dtype == DType::kI32 && !calls_.empty(), "ProfilingOps: bad snapshot");
  if (next_snapshot_ == snapshots_.size()) snapshots_.emplace_back();
  Snapshot& s = snapshots_[next_snapshot_];
  const size_t bytes = std::max<size_t>(t.bytes(), 4);
  if (s.capacity < bytes) {
    GPTOSS_ASSIGN_OR_RETURN(s.memory, inner_->Allocate(bytes));
    s.capacity = bytes;
  }
  s.count = t.numel();
  TensorView copy(s.memory.get(), DType::kI32, {t.numel()}, t.device);
  GPTOSS_RETURN_IF_ERROR(inner_->Copy(t.Reshaped({t.numel()}), copy));
  calls_.back().snapshots.push_back(static_cast<int>(next_snapshot_++));
  return absl::OkStatus();
}

void ProfilingOps::Reset() {
  calls_.clear();
  host_syncs_ = 0;
  next_snapshot_ = 0;
  timer_->Reset();
}

absl::StatusOr<ProfilingOps::Summary> ProfilingOps::Report() {
  GPTOSS_RETURN_IF_ERROR(inner_->Synchronize());
  Summary summary;
  summary.host_syncs = host_syncs_;
  std::map<std::string, Row> by_op;
  for (Call& call : calls_) {
    GPTOSS_ASSIGN_OR_RETURN(const double seconds, timer_->Seconds(call.begin, call.end));
    if (call.finish) {
      Snapshots host;
      for (int index : call.snapshots) {
        const Snapshot& s = snapshots_[index];
        host.emplace_back(static_cast<size_t>(s.count));
        GPTOSS_RETURN_IF_ERROR(
            inner_->CopyToHost(host.back().data(), s.memory.get(), s.count * sizeof(int32_t)));
      }
      call.finish(host, call);
      call.finish = nullptr;  // counted once, also when Report() runs again
    }
    Row& row = by_op[call.op];
    row.op = call.op;
    ++row.calls;
    row.seconds += seconds;
    row.bytes += call.bytes;
    row.flops += call.flops;
  }
  for (auto& [op, row] : by_op) {
    summary.op_seconds += row.seconds;
    summary.rows.push_back(std::move(row));
  }
  std::sort(summary.rows.begin(), summary.rows.end(),
            [](const Row& a, const Row& b) { return a.seconds > b.seconds; });
  return summary;
}

absl::Status ProfilingOps::Copy(const TensorView& src, TensorView dst) {
  return Timed("Copy", 2 * Bytes(src), 0, [&] { return inner_->Copy(src, dst); });
}

absl::Status ProfilingOps::CopyColumns(const TensorView& src, int64_t first, TensorView dst) {
  return Timed("CopyColumns", 2 * Bytes(dst), 0,
               [&] { return inner_->CopyColumns(src, first, dst); });
}

absl::Status ProfilingOps::Zero(TensorView t) {
  return Timed("Zero", Bytes(t), 0, [&] { return inner_->Zero(t); });
}

absl::Status ProfilingOps::PlanDispatch(const TensorView& expert_ids, int experts_per_rank,
                                        TensorView slots) {
  return Timed("PlanDispatch", Bytes(expert_ids) + Bytes(slots), 0,
               [&] { return inner_->PlanDispatch(expert_ids, experts_per_rank, slots); });
}

absl::Status ProfilingOps::PackRows(const std::vector<TensorView>& srcs, const TensorView& index,
                                    TensorView dst) {
  return Timed("PackRows", Bytes(index) + 2 * Bytes(dst), 0,
               [&] { return inner_->PackRows(srcs, index, dst); });
}

absl::Status ProfilingOps::ScatterAddRows(const TensorView& src, const TensorView& index,
                                          TensorView dst) {
  // Each source row reads and writes one destination row.
  return Timed("ScatterAddRows", Bytes(index) + 3 * Bytes(src), 0,
               [&] { return inner_->ScatterAddRows(src, index, dst); });
}

absl::Status ProfilingOps::Embedding(const TensorView& ids, const TensorView& table,
                                     TensorView out) {
  // The gathered rows are read once and written once.
  const double row_bytes = table.rank == 2 && table.dim(0) > 0 ? Bytes(table) / table.dim(0) : 0;
  return Timed("Embedding", Bytes(ids) + ids.numel() * row_bytes + Bytes(out), 0,
               [&] { return inner_->Embedding(ids, table, out); });
}

absl::Status ProfilingOps::RmsNorm(const TensorView& x, const TensorView& weight, float eps,
                                   TensorView out) {
  return Timed("RmsNorm", Bytes(x) + Bytes(weight) + Bytes(out), 4.0 * x.numel(),
               [&] { return inner_->RmsNorm(x, weight, eps, out); });
}

absl::Status ProfilingOps::Linear(const TensorView& x, const TensorView& w, const TensorView& bias,
                                  TensorView out) {
  const std::string op =
      w.rank == 2 ? absl::StrCat("Linear ", w.dim(0), "x", w.dim(1)) : std::string("Linear");
  const double flops = x.rank == 2 && w.rank == 2 ? 2.0 * x.dim(0) * w.dim(0) * w.dim(1) : 0.0;
  return Timed(op, Bytes(x) + Bytes(w) + Bytes(bias) + Bytes(out), flops,
               [&] { return inner_->Linear(x, w, bias, out); });
}

absl::Status ProfilingOps::RopeYarn(TensorView q, TensorView k, const TensorView& positions,
                                    const RopeTable& rope) {
  return Timed("RopeYarn", 2 * (Bytes(q) + Bytes(k)) + Bytes(positions), 3.0 * (q.numel() + k.numel()),
               [&] { return inner_->RopeYarn(q, k, positions, rope); });
}

absl::Status ProfilingOps::AppendKv(const TensorView& k, const TensorView& v,
                                    const TensorView& slots, KvLayerView cache) {
  return Timed("AppendKv", 2 * (Bytes(k) + Bytes(v)) + Bytes(slots), 0,
               [&] { return inner_->AppendKv(k, v, slots, cache); });
}

absl::Status ProfilingOps::RopeAppendKv(TensorView q, TensorView k, const TensorView& v,
                                        const TensorView& positions, const RopeTable& rope,
                                        const TensorView& slots, KvLayerView cache) {
  // q and k read and written, k and v stored into the cache.
  return Timed("RopeAppendKv",
               2 * Bytes(q) + 3 * Bytes(k) + 2 * Bytes(v) + Bytes(positions) + Bytes(slots),
               3.0 * (q.numel() + k.numel()),
               [&] { return inner_->RopeAppendKv(q, k, v, positions, rope, slots, cache); });
}

absl::Status ProfilingOps::QkvRopeAppendKv(const TensorView& qkv, TensorView q_out, TensorView k,
                                           TensorView v, const TensorView& positions,
                                           const RopeTable& rope, const TensorView& slots,
                                           KvLayerView cache) {
  // qkv read, q written, k and v stored into the cache.
  return Timed("QkvRopeAppendKv",
               Bytes(qkv) + Bytes(q_out) + Bytes(k) + Bytes(v) + Bytes(positions) + Bytes(slots),
               3.0 * (q_out.numel() + k.numel()), [&] {
                 return inner_->QkvRopeAppendKv(qkv, q_out, k, v, positions, rope, slots, cache);
               });
}

absl::Status ProfilingOps::AttentionWithSinks(const TensorView& q, const KvLayerView& cache,
                                              const TensorView& sinks,
                                              const AttentionBatch& batch, int window, float scale,
                                              TensorView out) {
  GPTOSS_RETURN_IF_ERROR(Timed(
      window > 0 ? "Attention (sliding)" : "Attention (full)", Bytes(q) + Bytes(out) + Bytes(sinks),
      0, [&] { return inner_->AttentionWithSinks(q, cache, sinks, batch, window, scale, out); }));
  // Keys read (each once per sequence and kv head) and the QK^T and PV FLOPs, from the batch.
  const double key_bytes = cache.k.rank == 4 && cache.k.dim(0) * cache.k.dim(1) > 0
                               ? 2.0 * Bytes(cache.k) / (cache.k.dim(0) * cache.k.dim(1))
                               : 0.0;  // one position's k and v rows
  const double head_flops = q.rank == 3 ? 4.0 * q.dim(1) * q.dim(2) : 0.0;
  calls_.back().finish = [=](const Snapshots& s, Call& call) {
    const std::vector<int32_t>& starts = s[0];
    const std::vector<int32_t>& lens = s[1];
    for (size_t i = 0; i + 1 < starts.size() && i < lens.size(); ++i) {
      const int64_t fresh = starts[i + 1] - starts[i], ctx = lens[i];
      const int64_t first_key =
          window > 0 ? std::max<int64_t>(0, ctx - fresh - window + 1) : 0;
      call.bytes += std::max<int64_t>(0, ctx - first_key) * key_bytes;
      for (int64_t p = ctx - fresh; p < ctx; ++p)
        call.flops += (window > 0 ? std::min<int64_t>(p + 1, window) : p + 1) * head_flops;
    }
  };
  GPTOSS_RETURN_IF_ERROR(
      SnapshotIntoLastCall(batch.query_start.Rows(0, std::min<int64_t>(
                                                         batch.num_seqs + 1,
                                                         batch.query_start.dim(0)))));
  return SnapshotIntoLastCall(
      batch.context_len.Rows(0, std::min<int64_t>(batch.num_seqs, batch.context_len.dim(0))));
}

absl::Status ProfilingOps::RouterTopK(const TensorView& logits, int k, TensorView expert_ids,
                                      TensorView expert_weights) {
  return Timed("RouterTopK", Bytes(logits) + Bytes(expert_ids) + Bytes(expert_weights), 0,
               [&] { return inner_->RouterTopK(logits, k, expert_ids, expert_weights); });
}

absl::Status ProfilingOps::Router(const TensorView& h, const TensorView& w, const TensorView& bias,
                                  int k, TensorView logits, TensorView expert_ids,
                                  TensorView expert_weights) {
  const double flops = h.rank == 2 && w.rank == 2 ? 2.0 * h.dim(0) * w.dim(0) * w.dim(1) : 0.0;
  return Timed("Router",
               Bytes(h) + Bytes(w) + Bytes(bias) + Bytes(logits) + Bytes(expert_ids) +
                   Bytes(expert_weights),
               flops, [&] {
                 return inner_->Router(h, w, bias, k, logits, expert_ids, expert_weights);
               });
}

absl::Status ProfilingOps::RecordMoe(const char* op, const TensorView& x,
                                     const TensorView& expert_ids, const ExpertWeights& experts,
                                     double other_bytes,
                                     const std::function<absl::Status()>& run) {
  GPTOSS_RETURN_IF_ERROR(Timed(op, Bytes(x) + Bytes(expert_ids) + other_bytes, 0, run));
  // Each distinct local expert's weights are read once; every local (row, slot) pair costs the
  // gate_up and down products.
  const double per_expert = ExpertBytes(experts);
  const int64_t inter = experts.gate_up_blocks.rank == 4 ? experts.gate_up_blocks.dim(1) / 2 : 0;
  const double pair_flops = x.rank == 2 ? 2.0 * x.dim(1) * 3 * inter : 0.0;
  const int first = experts.first_expert, local = experts.num_local;
  calls_.back().finish = [=](const Snapshots& s, Call& call) {
    std::set<int32_t> distinct;
    for (int32_t id : s[0]) {
      if (id < first || id >= first + local) continue;
      distinct.insert(id);
      call.flops += pair_flops;
    }
    call.bytes += distinct.size() * per_expert;
  };
  return SnapshotIntoLastCall(expert_ids);
}

absl::Status ProfilingOps::MoeMlp(const TensorView& x, const TensorView& expert_ids,
                                  const ExpertWeights& experts, TensorView out) {
  return RecordMoe("MoeMlp", x, expert_ids, experts, Bytes(out),
                   [&] { return inner_->MoeMlp(x, expert_ids, experts, out); });
}

absl::Status ProfilingOps::MoeExperts(const TensorView& x, const TensorView& expert_ids,
                                      const TensorView& expert_weights,
                                      const ExpertWeights& experts, TensorView rows,
                                      TensorView residual) {
  return RecordMoe("MoeExperts", x, expert_ids, experts,
                   Bytes(expert_weights) + 2 * Bytes(residual), [&] {
                     return inner_->MoeExperts(x, expert_ids, expert_weights, experts, rows,
                                               residual);
                   });
}

absl::Status ProfilingOps::MoeCombine(const TensorView& rows, const TensorView& weights,
                                      TensorView residual) {
  return Timed("MoeCombine", Bytes(rows) + Bytes(weights) + 2 * Bytes(residual),
               2.0 * rows.numel(), [&] { return inner_->MoeCombine(rows, weights, residual); });
}

absl::Status ProfilingOps::AddInPlace(const TensorView& x, TensorView residual) {
  return Timed("AddInPlace", Bytes(x) + 2 * Bytes(residual), static_cast<double>(x.numel()),
               [&] { return inner_->AddInPlace(x, residual); });
}

absl::Status ProfilingOps::AddRmsNorm(const TensorView& x, TensorView residual,
                                      const TensorView& weight, float eps, TensorView out) {
  return Timed("AddRmsNorm", Bytes(x) + 2 * Bytes(residual) + Bytes(weight) + Bytes(out),
               5.0 * x.numel(), [&] { return inner_->AddRmsNorm(x, residual, weight, eps, out); });
}

absl::Status ProfilingOps::Sample(const TensorView& logits,
                                  const std::vector<SamplingParams>& params, TensorView ids,
                                  TensorView logprobs) {
  return Timed("Sample", Bytes(logits) + Bytes(ids) + Bytes(logprobs), 0,
               [&] { return inner_->Sample(logits, params, ids, logprobs); });
}

absl::Status ProfilingOps::ApplyPenalties(TensorView logits, const TensorView& tokens,
                                          const TensorView& counts,
                                          const std::vector<PenaltyParams>& params) {
  return Timed("ApplyPenalties", Bytes(tokens) + Bytes(counts), 0,
               [&] { return inner_->ApplyPenalties(logits, tokens, counts, params); });
}

absl::Status ProfilingOps::TopLogprobs(const TensorView& logits, TensorView ids,
                                       TensorView logprobs) {
  return Timed("TopLogprobs", Bytes(logits) + Bytes(ids) + Bytes(logprobs), 0,
               [&] { return inner_->TopLogprobs(logits, ids, logprobs); });
}

}  // namespace gptoss
