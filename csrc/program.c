/* Inference programs: a planned model's forward pass as one call into C.
 *
 * From Python each layer costs a few microseconds of argument handling before
 * its kernel starts -- more than the kernel itself for a small network at
 * batch 1. A program is the plan's ops flattened into structs over numbered
 * buffers, run back to back here with the batch drivers of forward_team.c
 * (the same ones the per-layer bindings call, so the bits are the same). */
#define _POSIX_C_SOURCE 199309L
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "fastconv.h"
#include "team.h"
#include "program_pool.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

FC_THREAD_LOCAL int fc_in_program_team = 0;
FC_THREAD_LOCAL fc_team_loops *fc_program_loops = NULL;
FC_THREAD_LOCAL int fc_program_loop = 0;
FC_THREAD_LOCAL int fc_program_tid = 0;
FC_THREAD_LOCAL int fc_program_pooled = 0;

void fc_team_loop_wait(fc_team_slot *slot, fc_int n)
{
    int looks = 0;
    while (__atomic_load_n(&slot->done, __ATOMIC_ACQUIRE) < n)
        fc_wait_step(&looks);
}

/* Wall-clock seconds for the per-op timings (fc_program_run's `seconds`). */
static double fc_program_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Elements per image of an op's operand: 0 = in0, 1 = in1, 2 = out (the
 * buffers are image-major, so images [n0, n) start n0 times this far in). */
static fc_int fc_op_image_elems(const fc_op *op, int which)
{
    const fc_conv_geom *g = &op->conv;
    const fc_pool_geom *p = &op->pool;
    switch (op->kind) {
    case FC_OP_CONV:
        if (which == 0)
            return op->pre_depthwise ? op->dw.C * op->dw.H * op->dw.W : g->C * g->H * g->W;
        if (which == 2 && op->pool_after)
            return g->K * p->Ho * p->Wo;
        return g->K * g->Ho * g->Wo;
    case FC_OP_DEPTHWISE:
        return which == 0 ? g->C * g->H * g->W : g->K * g->Ho * g->Wo;
    case FC_OP_MAX_POOL:
    case FC_OP_AVG_POOL:
        return op->channels * (which == 0 ? p->H * p->W : p->Ho * p->Wo);
    case FC_OP_PLANE_MEANS:
        return which == 0 ? op->channels * op->size : op->channels;
    case FC_OP_LINEAR:
        return which == 0 ? op->size : op->units;
    case FC_OP_TO_NCHW:
        return op->channels * op->size;
    default: /* FC_OP_ADD */
        return op->size;
    }
}

static size_t fc_program_workspace_n(const fc_op *ops, int nops, fc_int N, int nthreads,
                                     size_t elem)
{
    size_t most = 64;
    int i;
    for (i = 0; i < nops; i++) {
        if (ops[i].kind == FC_OP_CONV) {
            size_t b = ops[i].pool_after
                           ? fc_conv2d_pool_forward_team_workspace_bytes(&ops[i].conv, N, nthreads,
                                                                         elem)
                       : ops[i].pre_depthwise
                           ? fc_depthwise_conv_forward_team_workspace_bytes(
                                 &ops[i].dw, &ops[i].conv, N, nthreads, elem)
                           : fc_conv2d_forward_team_workspace_bytes(&ops[i].conv, N, nthreads,
                                                                    elem);
            if (b > most)
                most = b;
        }
    }
    return most;
}

/* Whether fc_program_run runs the ops inside one team (fc_in_program_team). */
static int fc_program_in_team(int nthreads)
{
#ifdef _OPENMP
    return nthreads > 1;
#else
    (void)nthreads;
    return 0;
#endif
}

/* FC_TEAM_FOR loops an op may run (a convolution then its pooling, a dense
 * layer then its activation: two; room to spare). A run of images past the
 * slots falls back to barrier-ended loops. */
#define FC_LOOPS_PER_OP 4

/* Bytes of loop slots (fc_team_loops) at the front of a team run's workspace:
 * one run of images' worth, reused run after run; none without a team. */
static size_t fc_program_slot_bytes(int nops, int nthreads)
{
    if (!fc_program_in_team(nthreads) || nops <= 0)
        return 0;
    return (size_t)nops * FC_LOOPS_PER_OP * sizeof(fc_team_slot);
}

/* Sized for the choices the drivers make where they run: inside the program's
 * team when there is one (every thread may take any part, small jobs split). */
size_t fc_program_workspace_bytes(const fc_op *ops, int nops, fc_int N, fc_int chunk,
                                  int nthreads, size_t elem)
{
    const int was = fc_in_program_team;
    fc_in_program_team = fc_program_in_team(nthreads);
    size_t most = fc_program_workspace_n(ops, nops, N, nthreads, elem);
    if (chunk > 0 && chunk < N) {
        /* the chunks: `chunk` images, and the last one's remainder */
        size_t b = fc_program_workspace_n(ops, nops, chunk, nthreads, elem);
        if (b > most)
            most = b;
        if (N % chunk) {
            b = fc_program_workspace_n(ops, nops, N % chunk, nthreads, elem);
            if (b > most)
                most = b;
        }
    }
    fc_in_program_team = was;
    return fc_program_slot_bytes(nops, nthreads) + most;
}

/* Channels-last to channels-first for 3 channels (an RGB input batch, the
 * program's first op): pixels [a0, a1) of one image, x (A x 3) to y (3 x A).
 * Returns the first pixel left for the caller's loop. Eight pixels (three
 * vectors) at a time: each channel's eight values are one blend of the three
 * vectors (every lane holds the channel at its own position mod 3) and one
 * lane permutation. A copy: the same bits as the loop. */
#if defined(__x86_64__) || defined(__i386__)
static __attribute__((target("avx2"))) fc_int
fc_channels_first3_avx2_f32(const float *x, float *y, fc_int A, fc_int a0, fc_int a1)
{
    const __m256i pr = _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5);
    const __m256i pg = _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6);
    const __m256i pb = _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7);
    fc_int a = a0;
    for (; a + 8 <= a1; a += 8) {
        const __m256 v0 = _mm256_loadu_ps(x + 3 * a), v1 = _mm256_loadu_ps(x + 3 * a + 8);
        const __m256 v2 = _mm256_loadu_ps(x + 3 * a + 16);
        /* lane l of channel c's blend: from v0, v1 or v2 as (l - c) mod 3 is 0, 1, 2 */
        const __m256 r = _mm256_blend_ps(_mm256_blend_ps(v0, v1, 0x92), v2, 0x24);
        const __m256 g = _mm256_blend_ps(_mm256_blend_ps(v0, v1, 0x24), v2, 0x49);
        const __m256 b = _mm256_blend_ps(_mm256_blend_ps(v0, v1, 0x49), v2, 0x92);
        _mm256_storeu_ps(y + a, _mm256_permutevar8x32_ps(r, pr));
        _mm256_storeu_ps(y + A + a, _mm256_permutevar8x32_ps(g, pg));
        _mm256_storeu_ps(y + 2 * A + a, _mm256_permutevar8x32_ps(b, pb));
    }
    return a;
}
#endif

static fc_int fc_channels_first3_f32(const float *x, float *y, fc_int A, fc_int a0, fc_int a1)
{
#if defined(__x86_64__) || defined(__i386__)
    if (fc_simd_path() >= FC_SIMD_AVX2)
        return fc_channels_first3_avx2_f32(x, y, A, a0, a1);
#endif
    (void)x; (void)y; (void)A; (void)a1;
    return a0;
}

static fc_int fc_channels_first3_f64(const double *x, double *y, fc_int A, fc_int a0, fc_int a1)
{
    (void)x; (void)y; (void)A; (void)a1;
    return a0;
}

/* One thread's walk of the op list in a program's team (a pool job, or the
 * body of an OpenMP team). */
typedef struct fc_program_walk {
    const fc_op *ops;
    void *const *bufs;
    fc_int N, chunk;
    int nops, nthreads;
    char *work;
    double *seconds;
    fc_team_loops *loops;
    int pooled;
} fc_program_walk;

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
