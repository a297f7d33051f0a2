// Stub until the serving issue lands: serve, chat.
#include <cstdio>
#include "tools/cli/commands.h"
namespace gptoss::cli {
static int NotYet(const char* n) { std::fprintf(stderr, "gptoss %s: not implemented yet\n", n); return 1; }
int RunServe(int, char**) { return NotYet("serve"); }
int RunChat(int, char**) { return NotYet("chat"); }
}  // namespace gptoss::cli
