/* Inference programs: a planned model's forward pass as one call into C.
 *
 * From Python each layer costs a few microseconds of argument handling before
 * its kernel starts -- more than the kernel itself for a small network at
 * batch 1. A program is the plan's ops flattened into structs over numbered
 * buffers, run back to back here with the batch drivers of forward_team.c
 * (the same ones the per-layer bindings call, so the bits are the same). */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <time.h>
#include "fastconv.h"

/* Wall-clock seconds for the per-op timings (fc_program_run's `seconds`). */
static double fc_program_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t fc_program_workspace_bytes(const fc_op *ops, int nops, fc_int N, int nthreads,
                                  size_t elem)
{
    size_t most = 64;
    int i;
    for (i = 0; i < nops; i++) {
        if (ops[i].kind == FC_OP_CONV) {
            size_t b = ops[i].pool_after
                           ? fc_conv2d_pool_forward_team_workspace_bytes(&ops[i].conv, N, nthreads,
                                                                         elem)
                           : fc_conv2d_forward_team_workspace_bytes(&ops[i].conv, N, nthreads,
                                                                    elem);
            if (b > most)
                most = b;
        }
    }
    return most;
}

#define T float
#define SUFFIX f32
#include "program_impl.h"
#undef T
#undef SUFFIX

#define T double
#define SUFFIX f64
#include "program_impl.h"
#undef T
#undef SUFFIX
