// gptoss-bench --collectives: the communicator's collectives timed on their own, at world size
// N (local ranks: threads joined by GlooCommunicator over TCP loopback), for each message size:
// all-to-all (the MoE dispatch/combine), all-gather (the rows after the MoE, the logits) and
// reduce-scatter (after o_proj). Prints one table row per (collective, size) and a JSON report.
#pragma once

#include <string>

namespace gptoss::bench {

// sizes: comma-separated bytes per rank per call. Returns the process exit code.
int CollectivesMain(int world, const std::string& sizes);

}  // namespace gptoss::bench
