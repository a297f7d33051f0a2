// Implemented by the CPU reference work (foundation issue).
#include "kernels/rope_yarn.h"
