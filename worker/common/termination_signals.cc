#include "worker/common/termination_signals.h"

#include <signal.h>
#include <time.h>

#include <cerrno>

namespace gptoss {
namespace {

sigset_t SignalSet(bool include_sigchld) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (include_sigchld) sigaddset(&set, SIGCHLD);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = SignalSet(/*include_sigchld=*/true);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForSignal(bool include_sigchld, absl::Duration timeout) {
  const sigset_t set = SignalSet(include_sigchld);
  if (timeout > absl::ZeroDuration()) {
    const timespec ts = absl::ToTimespec(timeout);
    while (true) {
      const int sig = sigtimedwait(&set, nullptr, &ts);
      if (sig > 0) return sig;
      if (errno == EAGAIN) return 0;
      if (errno != EINTR) return 0;
    }
  }
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

}  // namespace gptoss
