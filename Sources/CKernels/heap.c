#include "ckernels.h"
#include <malloc.h>

// glibc returns blocks over its mmap threshold (at most 32 MB) to the kernel
// on free, so every new large buffer faults in zeroed pages again.
void ck_keep_freed_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

// Give free heap pages back to the kernel now (after a large scratch buffer).
void ck_release_freed_memory(void) { malloc_trim(0); }
