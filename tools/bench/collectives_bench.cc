#include "tools/bench/collectives_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "kernels/core/status.h"
#include "kernels/core/tensor.h"
#include "nlohmann/json.hpp"
#include "worker/comm/gloo_communicator.h"

namespace gptoss::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  const char* name;
  int64_t bytes = 0;
  double seconds_per_call = 0;
  double sent_per_call = 0;  // bytes rank 0 sent per call
};

// Runs `call` until 0.2 s or 500 calls have passed (after 3 warm-up calls); the same count on
// every rank (rank 0 decides and broadcasts nothing: all ranks use the fixed schedule below).
absl::StatusOr<Row> Time(const char* name, int64_t bytes, GlooCommunicator& comm,
                         const std::function<absl::Status()>& call) {
  for (int i = 0; i < 3; ++i) GPTOSS_RETURN_IF_ERROR(call());
  // A fixed number of calls (so that every rank makes the same ones), sized from the message.
  const int calls = static_cast<int>(std::clamp<int64_t>((int64_t{64} << 20) / std::max<int64_t>(bytes, 1), 20, 500));
  const CommStats before = comm.stats();
  const auto start = Clock::now();
  for (int i = 0; i < calls; ++i) GPTOSS_RETURN_IF_ERROR(call());
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Row row{name, bytes, seconds / calls,
          static_cast<double>(comm.stats().bytes_sent - before.bytes_sent) / calls};
  return row;
}

absl::StatusOr<std::vector<Row>> RankRun(GlooCommunicator& comm, const std::vector<int64_t>& sizes) {
  const int world = comm.world_size();
  std::vector<Row> rows;
  for (int64_t bytes : sizes) {
    // F32 elements, a multiple of the world size so every collective divides evenly.
    const int64_t n = std::max<int64_t>(bytes / 4 / world, 1) * world;
    HostTensor in(DType::kF32, {n}), gathered(DType::kF32, {n * world}),
        scattered(DType::kF32, {n / world}), exchanged(DType::kF32, {n});
    const std::vector<int64_t> counts(world, n / world);
    TensorView rows_in = in.view().Reshaped({n, 1}), rows_out = exchanged.view().Reshaped({n, 1});
    GPTOSS_ASSIGN_OR_RETURN(Row a2a, Time("all-to-all", n * 4, comm, [&] {
                              return comm.AllToAllV(rows_in, counts, rows_out, counts);
                            }));
    GPTOSS_ASSIGN_OR_RETURN(Row ag, Time("all-gather", n * 4, comm, [&] {
                              return comm.AllGather(in.view(), gathered.view());
                            }));
    GPTOSS_ASSIGN_OR_RETURN(Row rs, Time("reduce-scatter", n * 4, comm, [&] {
                              return comm.ReduceScatterSum(in.view(), scattered.view());
                            }));
    rows.insert(rows.end(), {a2a, ag, rs});
  }
  return rows;
}

}  // namespace

int CollectivesMain(int world, const std::string& sizes_text) {
  std::vector<int64_t> sizes;
  for (absl::string_view part : absl::StrSplit(sizes_text, ',', absl::SkipEmpty())) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 4 || v > (int64_t{1} << 30)) {
      std::fprintf(stderr, "gptoss-bench: --collectives: '%s' is not a size in [4, 2^30] bytes\n",
                   std::string(part).c_str());
      return 2;
    }
    sizes.push_back(v);
  }
  InMemoryRendezvous store;
  std::vector<absl::StatusOr<std::vector<Row>>> results(world, absl::UnknownError("not run"));
  std::vector<std::thread> ranks;
  for (int r = 0; r < world; ++r)
    ranks.emplace_back([&, r] {
      auto comm = GlooCommunicator::Create(r, world, store, GlooOptions{});
      results[r] = comm.ok() ? RankRun(**comm, sizes) : absl::StatusOr<std::vector<Row>>(comm.status());
    });
  for (std::thread& t : ranks) t.join();
  for (const auto& r : results)
    if (!r.ok()) {
      std::fprintf(stderr, "gptoss-bench: collectives: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
  std::printf("gptoss-bench: collectives on %d local ranks (Gloo, TCP loopback), rank 0's view\n\n",
              world);
  std::printf("  %-15s %12s %12s %14s\n", "collective", "bytes/rank", "us/call", "sent GB/s");
  nlohmann::json report = nlohmann::json::array();
  for (const Row& row : *results[0]) {
    const double gbps = row.seconds_per_call > 0 ? row.sent_per_call / row.seconds_per_call / 1e9 : 0;
    std::printf("  %-15s %12lld %12.1f %14.3f\n", row.name, static_cast<long long>(row.bytes),
                1e6 * row.seconds_per_call, gbps);
    report.push_back({{"collective", row.name},
                      {"world_size", world},
                      {"bytes_per_rank", row.bytes},
                      {"us_per_call", 1e6 * row.seconds_per_call},
                      {"sent_bytes_per_call", row.sent_per_call},
                      {"sent_gbps", gbps}});
  }
  std::printf("\n%s\n", report.dump(2).c_str());
  return 0;
}

}  // namespace gptoss::bench
