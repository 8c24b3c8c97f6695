/* The inference programs' thread pool (contract in program_pool.h).
 *
 * One pool per process, started on first use with as many threads as runs
 * have asked for (less one, the caller). A job is published by bumping a
 * generation number; the pool's threads watch it for about a millisecond
 * after their last job (back-to-back inferences find them awake), yielding
 * the core between looks after the first few microseconds, then sleep on a
 * condition variable. Joining is a handshake on two counters: a thread
 * announces itself in `active`, then looks whether the job is still `open`;
 * the caller closes the job, then waits for `active` to drain. Both sides use
 * sequentially consistent operations, so either the thread sees the job
 * closed (and leaves without touching it) or the caller sees the thread (and
 * waits for it). */
#if defined(_OPENMP) && (defined(__unix__) || defined(__APPLE__))
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>
#include "fastconv.h"
#include "program_pool.h"

/* How long an idle pool thread spins before it sleeps. */
#define FC_POOL_SPIN_NS 1000000L
#define FC_POOL_MAX_THREADS 256

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int started;            /* pool threads created (under mu) */
    int sleepers;           /* pool threads waiting on `wake` (under mu) */
    int busy;               /* a caller owns the pool (atomic) */
    unsigned long gen;      /* job number (atomic) */
    int open;               /* the current job takes threads (atomic) */
    int active;             /* pool threads inside a job (atomic) */
    int next_tid;           /* next tid to hand out (atomic) */
    int want;               /* the job's thread count */
    fc_pool_job job;
    void *arg;
} fc_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static long fc_pool_ns_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/* The next job number after `seen`: spin, then sleep. */
static unsigned long fc_pool_wait_job(unsigned long seen)
{
    struct timespec t0;
    unsigned long g;
    int looks = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((g = __atomic_load_n(&fc_pool.gen, __ATOMIC_ACQUIRE)) == seen) {
        fc_wait_step(&looks);
        if (looks % 256 == 0 && fc_pool_ns_since(&t0) > FC_POOL_SPIN_NS) {
            pthread_mutex_lock(&fc_pool.mu);
            fc_pool.sleepers++;
            while (__atomic_load_n(&fc_pool.gen, __ATOMIC_ACQUIRE) == seen)
                pthread_cond_wait(&fc_pool.wake, &fc_pool.mu);
            fc_pool.sleepers--;
            pthread_mutex_unlock(&fc_pool.mu);
            clock_gettime(CLOCK_MONOTONIC, &t0);
            looks = 0;
        }
    }
    return g;
}

static void *fc_pool_thread(void *unused)
{
    unsigned long seen = 0;
    (void)unused;
    for (;;) {
        const unsigned long g = fc_pool_wait_job(seen);
        seen = g;
        __atomic_fetch_add(&fc_pool.active, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&fc_pool.open, __ATOMIC_SEQ_CST) &&
            __atomic_load_n(&fc_pool.gen, __ATOMIC_SEQ_CST) == g) {
            const int tid = __atomic_fetch_add(&fc_pool.next_tid, 1, __ATOMIC_SEQ_CST);
            if (tid < fc_pool.want)
                fc_pool.job(fc_pool.arg, tid);
        }
        __atomic_fetch_sub(&fc_pool.active, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

/* A forked child has none of the parent's pool threads (and maybe a mutex
 * locked by one of them): it starts over with an empty pool. */
static void fc_pool_after_fork(void)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
    fc_pool.mu = mu;
    fc_pool.wake = wake;
    fc_pool.started = fc_pool.sleepers = fc_pool.busy = 0;
    fc_pool.open = fc_pool.active = 0;
}

static pthread_once_t fc_pool_once = PTHREAD_ONCE_INIT;
static void fc_pool_init(void)
{
    pthread_atfork(NULL, NULL, fc_pool_after_fork);
}

int fc_pool_run(int nthreads, fc_pool_job job, void *arg)
{
    int expected = 0;
    if (nthreads > FC_POOL_MAX_THREADS)
        nthreads = FC_POOL_MAX_THREADS;
    pthread_once(&fc_pool_once, fc_pool_init);
    if (!__atomic_compare_exchange_n(&fc_pool.busy, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return 0;
    pthread_mutex_lock(&fc_pool.mu);
    while (fc_pool.started < nthreads - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int failed = pthread_create(&t, &attr, fc_pool_thread, NULL);
        pthread_attr_destroy(&attr);
        if (failed)
            break; /* fewer helpers: the job runs on those there are */
        fc_pool.started++;
    }
    pthread_mutex_unlock(&fc_pool.mu);
    fc_pool.job = job;
    fc_pool.arg = arg;
    fc_pool.want = nthreads;
    __atomic_store_n(&fc_pool.next_tid, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fc_pool.open, 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&fc_pool.gen, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&fc_pool.mu);
    if (fc_pool.sleepers)
        pthread_cond_broadcast(&fc_pool.wake);
    pthread_mutex_unlock(&fc_pool.mu);
    job(arg, 0);
    __atomic_store_n(&fc_pool.open, 0, __ATOMIC_SEQ_CST);
    int looks = 0;
    while (__atomic_load_n(&fc_pool.active, __ATOMIC_SEQ_CST))
        fc_wait_step(&looks);
    __atomic_store_n(&fc_pool.busy, 0, __ATOMIC_RELEASE);
    return 1;
}

#else /* no OpenMP or no POSIX threads: programs run their own way */
#include "program_pool.h"

int fc_pool_run(int nthreads, fc_pool_job job, void *arg)
{
    (void)nthreads;
    (void)job;
    (void)arg;
    return 0;
}
#endif
