#define _GNU_SOURCE
#include "ckernels.h"
#include <sched.h>
#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

// The engine's thread pool: helpers that spin briefly between parallel regions
// instead of parking at once. A decode step is a few dozen short regions, and
// waking a parked thread (libdispatch) would cost each of them its start.
//
// One region runs at a time; a caller that finds the pool busy (a region started
// from inside a region, or from another thread) gets 0 and runs the work itself.

#define MAX_HELPERS 63
#define SPIN_ROUNDS 20000  // pause instructions (~140 cycles each here) before a helper sleeps

static struct {
    pthread_mutex_t run;           // held for the whole of a region
    int started;                   // helper threads created
    int helpers;                   // helpers taking part in the current region
    ck_chunk_fn fn;
    void *ctx;
    long chunks;
    _Atomic unsigned generation;   // bumped to start a region (futex word)
    _Atomic long next;             // the next unclaimed chunk
    _Atomic int busy;              // helpers not yet done with the region
    _Atomic int sleepers;
    _Atomic int spin_rounds;       // SPIN_ROUNDS, or 0 when there are more threads than CPUs
} pool = {.run = PTHREAD_MUTEX_INITIALIZER};

static void *helper_main(void *arg) {
    int index = (int)(long)arg;  // 1 ... MAX_HELPERS; the caller is worker 0
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&pool.generation, memory_order_acquire) == seen) {
            if (++spins < atomic_load_explicit(&pool.spin_rounds, memory_order_relaxed)) { _mm_pause(); continue; }
            atomic_fetch_add(&pool.sleepers, 1);
            syscall(SYS_futex, &pool.generation, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
            atomic_fetch_sub(&pool.sleepers, 1);
            spins = 0;
        }
        seen = atomic_load_explicit(&pool.generation, memory_order_acquire);
        if (index > pool.helpers) continue;
        long c;
        while ((c = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed)) < pool.chunks)
            pool.fn(pool.ctx, c, index);
        atomic_fetch_sub_explicit(&pool.busy, 1, memory_order_release);
    }
    return NULL;
}

int ck_pool_run(long chunks, int threads, ck_chunk_fn fn, void *ctx) {
    int helpers = threads - 1;
    if (helpers < 1 || helpers > MAX_HELPERS || pthread_mutex_trylock(&pool.run) != 0) return 0;
    while (pool.started < helpers) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&t, &attr, helper_main, (void *)(long)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (failed) { pthread_mutex_unlock(&pool.run); return 0; }
        pool.started++;
    }
    // More threads than CPUs: a spinning helper would take the CPU from one
    // with work, so helpers sleep at once and the caller yields while it waits.
    static int cpus = 0;
    if (cpus == 0) cpus = ck_available_cpus() > 0 ? ck_available_cpus() : 1;
    int crowded = threads > cpus;
    atomic_store_explicit(&pool.spin_rounds, crowded ? 0 : SPIN_ROUNDS, memory_order_relaxed);
    pool.helpers = helpers;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.chunks = chunks;
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.busy, helpers, memory_order_relaxed);
    atomic_fetch_add(&pool.generation, 1);  // seq_cst: ordered before the sleepers check
    if (atomic_load(&pool.sleepers) > 0)
        syscall(SYS_futex, &pool.generation, FUTEX_WAKE_PRIVATE, MAX_HELPERS, NULL, NULL, 0);
    long c;
    while ((c = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed)) < chunks) fn(ctx, c, 0);
    while (atomic_load_explicit(&pool.busy, memory_order_acquire) > 0) {
        if (crowded) sched_yield(); else _mm_pause();
    }
    pthread_mutex_unlock(&pool.run);
    return 1;
}

// The libdispatch fallback's chunk counter (Parallel.forEach when the pool is busy).
long ck_claim(long *counter) {
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

// CPUs in this process's affinity mask (taskset, cpusets, srun -c), or 0 when unknown.
int ck_available_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}
