#include "ckernels.h"

// What this CPU can run; callers pick a kernel once and fall back to BLAS or Swift SIMD.
int ck_has_avx512(void) { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"); }
int ck_has_avx512_bf16(void) { return ck_has_avx512() && __builtin_cpu_supports("avx512bf16"); }
