// gptoss-coordinator: the serving front end (see coordinator/coordinator_server.h for flags).
#include "coordinator/coordinator_server.h"

int main(int argc, char** argv) { return gptoss::RunCoordinatorMain(argc - 1, argv + 1); }
