// Stub until the tokenizer issue lands: tokenize, detokenize, render-chat.
#include <cstdio>
#include "tools/cli/commands.h"
namespace gptoss::cli {
static int NotYet(const char* n) { std::fprintf(stderr, "gptoss %s: not implemented yet\n", n); return 1; }
int RunTokenize(int, char**) { return NotYet("tokenize"); }
int RunDetokenize(int, char**) { return NotYet("detokenize"); }
int RunRenderChat(int, char**) { return NotYet("render-chat"); }
}  // namespace gptoss::cli
