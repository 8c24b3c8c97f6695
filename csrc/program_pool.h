/* The thread pool inference programs run on (program_pool.c).
 *
 * An OpenMP team cannot finish before every one of its threads has arrived:
 * on a virtual machine a worker whose vCPU went idle takes milliseconds to be
 * scheduled again (5 ms for the 2-vCPU KVM guest this was measured on, for a
 * batch-1 inference of 20 us), and the team's end waits for it. Here the
 * caller runs the job itself and the pool's threads join while it lasts: one
 * that arrives late finds the job closed and goes back to waiting, and the
 * caller waits only for the threads that did join. The job must therefore be
 * correct whichever threads take part -- the program's loops hand their
 * iterations to whichever thread asks (team.h, FC_TEAM_FOR). */
#ifndef FC_PROGRAM_POOL_H
#define FC_PROGRAM_POOL_H

#include <sched.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FC_SPIN_PAUSE() _mm_pause()
#else
#define FC_SPIN_PAUSE() ((void)0)
#endif

/* One look of a program thread's wait loop (*looks counts them): a pause for the
 * first few thousand (the awaited thread is usually microseconds from done), then
 * the core given up between looks -- the thread waited for, or an OpenMP team's
 * worker, may need this very core. */
static inline void fc_wait_step(int *looks)
{
    if (++*looks < 4096)
        FC_SPIN_PAUSE();
    else
        sched_yield();
}

typedef void (*fc_pool_job)(void *arg, int tid);

/* Runs job(arg, 0) on the calling thread and job(arg, tid) on each pool
 * thread that joins while it runs (tid 1 .. nthreads - 1, each at most once);
 * returns when every one of those calls has returned. Returns 0 without
 * running anything when the pool is unavailable (no POSIX threads, or
 * another caller is using it): the caller then runs the job its own way. */
int fc_pool_run(int nthreads, fc_pool_job job, void *arg);

#endif
