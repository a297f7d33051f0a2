// Stub until the foundation issue lands: logits, generate (make-checkpoint: cmd_make_checkpoint.cc).
#include <cstdio>
#include "tools/cli/commands.h"
namespace gptoss::cli {
static int NotYet(const char* n) { std::fprintf(stderr, "gptoss %s: not implemented yet\n", n); return 1; }
int RunLogits(int, char**) { return NotYet("logits"); }
int RunGenerate(int, char**) { return NotYet("generate"); }
}  // namespace gptoss::cli
