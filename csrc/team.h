/* How many threads a job is worth waking: the one rule every batch-level
 * driver uses (the C drivers in forward_team.c and program.c, and the Cython
 * bindings through fastconv/_runtime.pxd). */
#ifndef FC_TEAM_H
#define FC_TEAM_H

#include "fastconv.h"

/* Below this many flops (or element visits) a job is done before a second
 * thread would be awake; waking it costs more, and on a busy machine a
 * barrier wait can cost a whole scheduler time slice. */
#ifndef FC_MIN_PARALLEL_WORK
#define FC_MIN_PARALLEL_WORK (1 << 20)
#endif
/* A depthwise flop in dense-convolution flops: the depthwise kernels are
 * memory-bound and run 12-20 GFLOP/s where a dense convolution runs 100-180, so
 * a flop count alone kept MobileNet's batch-1 depthwise layers (0.15-0.3
 * MFLOP, 5-14 us) on one thread. */
#define FC_DEPTHWISE_WORK 8
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
