/* How many threads a job is worth waking: the one rule every batch-level
 * driver uses (the C drivers in forward_team.c and program.c, and the Cython
 * bindings through fastconv/_runtime.pxd). */
#ifndef FC_TEAM_H
#define FC_TEAM_H

#include "fastconv.h"

/* Below this many flops (or element visits) a job is done before a second
 * thread would be awake; waking it costs more, and on a busy machine a
 * barrier wait can cost a whole scheduler time slice. */
#define FC_MIN_PARALLEL_WORK (1 << 20)
/* A depthwise flop in dense-convolution flops: the depthwise kernels are
 * memory-bound and run 12-20 GFLOP/s where a dense convolution runs 100-180, so
 * a flop count alone kept MobileNet's batch-1 depthwise layers (0.15-0.3
 * MFLOP, 5-14 us) on one thread. */
#define FC_DEPTHWISE_WORK 8

/* The work of a depthwise pass over N images (any of its three passes) in the
 * units of fc_team_size: its multiply-adds x 2, weighted as above. */
static inline double fc_depthwise_work(const fc_conv_geom *g, fc_int N)
{
    return 2.0 * (double)N * (double)(g->K * g->Ho * g->Wo * g->R * g->S) * FC_DEPTHWISE_WORK;
}
/* One element visit of a memory-bound pass (pooling, activations) in flops. */
#define FC_ELEMENT_WORK 16

/* Set in each thread of an inference program's team while it runs the
 * program's ops (fc_program_run): the drivers then share their loops out
 * among the threads already running (FC_TEAM_FOR) instead of starting a team
 * per op -- a fork and join costs ~0.6 us, the barrier that ends a shared
 * loop ~0.3 -- and, the threads being awake, even a small job is split. */
#if defined(_MSC_VER)
#define FC_THREAD_LOCAL __declspec(thread)
#else
#define FC_THREAD_LOCAL __thread
#endif
extern FC_THREAD_LOCAL int fc_in_program_team;

/* Threads worth waking for `units` independent pieces of `work` in all. */
static inline int fc_team_size(int requested, fc_int units, double work)
{
    if (requested <= 1 || units <= 1 || (work < FC_MIN_PARALLEL_WORK && !fc_in_program_team))
        return 1;
    return requested < units ? requested : (int)units;
}

/* for (i = 0; i < n; i++) body, on a team of nt threads started here (when
 * nt > 1), or, inside an inference program's team, shared out among its
 * threads (an orphaned worksharing loop, ended by the team's barrier).
 * `sched` is static or dynamic; i is declared by the caller. Callers give
 * every iteration its own outputs, so which thread runs it never matters. */
#define FC_PRAGMA_(x) _Pragma(#x)
#define FC_PRAGMA(x) FC_PRAGMA_(x)
#define FC_TEAM_FOR(sched, nt, i, n, ...)                                                  \
    do {                                                                                   \
        if (fc_in_program_team) {                                                          \
            FC_PRAGMA(omp for schedule(sched))                                             \
            for (i = 0; i < (n); i++) __VA_ARGS__                                          \
        } else {                                                                           \
            (void)(nt); /* read only by the pragma: unused in serial builds */             \
            FC_PRAGMA(omp parallel for schedule(sched) num_threads(nt) if ((nt) > 1))      \
            for (i = 0; i < (n); i++) __VA_ARGS__                                          \
        }                                                                                  \
    } while (0)

#ifdef _OPENMP
#include <omp.h>
#define FC_THREAD_ID() omp_get_thread_num()
#else
#define FC_THREAD_ID() 0
#endif

#endif
