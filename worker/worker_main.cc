// gptoss-worker: one rank of the model (see worker/worker_process.h for flags).
#include "worker/worker_process.h"

int main(int argc, char** argv) { return gptoss::RunWorkerMain(argc - 1, argv + 1); }
