// Termination signals for the server processes (gptoss-coordinator, gptoss-worker, gptoss
// serve): SIGTERM and SIGINT are blocked in every thread and received synchronously by
// sigwait, so that shutdown runs as ordinary code (drain, close streams) instead of inside an
// async signal handler.
// Contract: call BlockTerminationSignals() first in main, before any thread exists (threads
// inherit the mask). WaitForSignal() then returns the first of SIGTERM/SIGINT (and SIGCHLD if
// asked) that arrives, or 0 after `timeout` (if > 0).
#pragma once

#include "absl/time/time.h"

namespace gptoss {

void BlockTerminationSignals();
int WaitForSignal(bool include_sigchld = false, absl::Duration timeout = absl::ZeroDuration());

}  // namespace gptoss
