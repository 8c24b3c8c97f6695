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

/* Threads worth waking for `units` independent pieces of `work` in all. */
static inline int fc_team_size(int requested, fc_int units, double work)
{
    if (requested <= 1 || units <= 1 || work < FC_MIN_PARALLEL_WORK)
        return 1;
    return requested < units ? requested : (int)units;
}

#ifdef _OPENMP
#include <omp.h>
#define FC_THREAD_ID() omp_get_thread_num()
#else
#define FC_THREAD_ID() 0
#endif

#endif
