/* Forward passes over a whole batch, split across an OpenMP team: the drivers
 * the Cython bindings and the inference program (program.c) share, so a layer
 * computes the same bits whichever of them runs it.
 *
 * Each driver decides its team with fc_team_size (team.h) and hands every
 * thread disjoint outputs, so results never depend on the thread count. */
#include <stdint.h>
#include "fastconv.h"
#include "conv_part.h"
#include "team.h"

/* Runs of images per thread in the conv drivers: per-run set-up is amortised. The
 * runs are handed out statically, so that a thread convolves the images it normalises
 * (the batch-norm passes split the batch the same way, first half to the first thread)
 * and the next layer's passes find them in its core's cache; handed out first come,
 * first served, half of each layer's input came from the other core (ResNet-20's
 * training step 0.95-0.99x in five alternations of processes, on a shared host where
 * a busy core now holds up the other at the end of a pass). */
#define FC_IMAGE_RUNS_PER_THREAD 4

enum { FC_CONV_TEAM_RUNS = 0, FC_CONV_TEAM_SPLIT = 1, FC_CONV_TEAM_1X1_BATCH = 2, FC_CONV_TEAM_1X1_ROWS = 3 };

typedef struct fc_conv_team {
    int mode;       /* FC_CONV_TEAM_* */
    int nt;         /* threads (parts per image for SPLIT) */
    size_t ws;      /* workspace bytes per thread, a multiple of 64 */
} fc_conv_team;

/* Runs of images a team of nt hands out (one run, the whole batch, for one thread),
 * each a multiple of `per_run` images (but the last) where there are enough: the
 * batch is cut into units of per_run images, and run i starts at run_start(i). */
static fc_int image_runs(fc_int N, int nt, fc_int per_run)
{
    if (nt <= 1)
        return 1;
    const fc_int units = (N + per_run - 1) / per_run;
    return units < FC_IMAGE_RUNS_PER_THREAD * nt ? units : FC_IMAGE_RUNS_PER_THREAD * nt;
}

static fc_int run_start(fc_int i, fc_int runs, fc_int N, fc_int per_run)
{
    const fc_int units = (N + per_run - 1) / per_run, n = i * units / runs * per_run;
    return n < N ? n : N;
}

static size_t round64(size_t n)
{
    /* saturates: SIZE_MAX can never be allocated */
    return n > SIZE_MAX - 63 ? SIZE_MAX : (n + 63) & ~(size_t)63;
}

/* A dense convolution's flops in the units of fc_team_size: a short reduction
 * (C * R * S below 64 -- a 3-channel first layer, a strided 1x1 on 16
 * channels) runs at a fraction of the rate of a long one (one thread: 66
 * GFLOP/s at 27 against 90-120 at 144+, 30 on the strided 1x1), so its flops
 * count up to 4 times: the 3-channel first layers of ResNet-20 and MobileNet
 * at batch 1 (0.9 MFLOP, 13 us on one thread) get the team. */
static double conv_work(const fc_conv_geom *g, fc_int N)
{
    const double k = (double)(g->C * g->R * g->S);
    const double scale = k >= 64 ? 1.0 : k >= 16 ? 64.0 / k : 4.0;  /* 64 / k in [1, 4] */
    return 2.0 * (double)N * (double)(g->K * g->Ho * g->Wo) * k * scale;
}

/* How a batch of N images is cut: one GEMM across small 1x1 maps; each image
 * shared by the team when there are fewer images than threads (batch 1 at
 * inference); else runs of whole images. */
static fc_conv_team conv_team(const fc_conv_geom *g, fc_int N, int nthreads, size_t elem)
{
    fc_conv_team t;
    double flops = conv_work(g, N);
    int split = fc_team_size(nthreads, nthreads, flops);
    if (fc_conv2d_1x1_batch_ok(g, N)) {
        /* More weights than input values (K*C > N*P*C): runs of images would
         * each stream all the weights; the filters are split instead. */
        const int rows = g->K > N * g->Ho * g->Wo && split > 1;
        t.mode = rows ? FC_CONV_TEAM_1X1_ROWS : FC_CONV_TEAM_1X1_BATCH;
        t.nt = rows ? split : fc_team_size(nthreads, N, flops);
        t.ws = round64(fc_conv2d_1x1_batch_workspace_bytes(g, elem));
    } else if (N < nthreads && split > 1) {
        t.mode = FC_CONV_TEAM_SPLIT;
        t.nt = split;
        t.ws = round64(fc_conv2d_workspace_bytes(g, elem));
    } else {
        t.mode = FC_CONV_TEAM_RUNS;
        t.nt = fc_team_size(nthreads, N, flops);
        t.ws = round64(fc_conv2d_workspace_bytes(g, elem));
    }
    return t;
}

/* Workspace slots a driver's loop may use (one per FC_THREAD_ID): its own
 * team's threads, or, inside an inference program's team, any of that team's
 * (which picks up a part is up to the worksharing schedule). */
static size_t team_slots(const fc_conv_team *t, int nthreads)
{
    return (size_t)(fc_in_program_team && nthreads > t->nt ? nthreads : t->nt);
}

size_t fc_conv2d_forward_team_workspace_bytes(const fc_conv_geom *g, fc_int N, int nthreads,
                                              size_t elem)
{
    fc_conv_team t = conv_team(g, N, nthreads, elem);
    const size_t slots = team_slots(&t, nthreads);
    if (t.ws > SIZE_MAX / slots)
        return SIZE_MAX;
    return t.ws * slots;
}

/* Conv -> pooling in one pass: each thread convolves a few images into its own
 * scratch (kept in cache, at most this many bytes of them) and pools them from
 * there, so the full-size feature map never goes to memory (the depthwise ->
 * convolution pass below keeps its depthwise output the same way). */
#define FC_POOL_SCRATCH_BYTES (256 * 1024)

static fc_int conv_pool_images(const fc_conv_geom *g, size_t elem)
{
    const size_t img = (size_t)g->K * (size_t)g->Ho * (size_t)g->Wo * elem;
    const size_t n = img ? FC_POOL_SCRATCH_BYTES / img : 1;
    return n < 1 ? 1 : (fc_int)n;
}

/* Whether the runs-of-images mode fuses (else: the conv team, then the pool team). */
static int conv_pool_fused(const fc_conv_team *t)
{
    return t->mode == FC_CONV_TEAM_RUNS;
}

/* Workspace of a driver that keeps runs of images of `mid`'s output (the
 * convolution's own output before pooling, or the depthwise output before the
 * convolution) in a per-thread scratch next to the convolution g's workspace; or,
 * when g does not run as runs of images, the whole of that output for the batch
 * followed by g's team workspace. */
static size_t scratch_team_workspace(const fc_conv_geom *mid, const fc_conv_geom *g, fc_int N,
                                     int nthreads, size_t elem)
{
    fc_conv_team t = conv_team(g, N, nthreads, elem);
    size_t per, ys = (size_t)mid->K * (size_t)mid->Ho * (size_t)mid->Wo * elem;
    fc_int imgs = conv_pool_fused(&t) ? conv_pool_images(mid, elem) : N;
    if (ys && (size_t)imgs > (SIZE_MAX / 2) / ys)
        return SIZE_MAX;
    per = round64(ys * (size_t)imgs);
    if (!conv_pool_fused(&t)) {
        size_t conv = fc_conv2d_forward_team_workspace_bytes(g, N, nthreads, elem);
        return conv > SIZE_MAX - per ? SIZE_MAX : per + conv;
    }
    if (t.ws > SIZE_MAX - per || t.ws + per > SIZE_MAX / team_slots(&t, nthreads))
        return SIZE_MAX;
    return (t.ws + per) * team_slots(&t, nthreads);
}

size_t fc_conv2d_pool_forward_team_workspace_bytes(const fc_conv_geom *g, fc_int N,
                                                   int nthreads, size_t elem)
{
    return scratch_team_workspace(g, g, N, nthreads, elem);
}

/* Depthwise -> convolution in one pass (MobileNet's depthwise-separable blocks):
 * each thread runs the depthwise convolution of a few images into its own
 * scratch (kept in cache, FC_POOL_SCRATCH_BYTES of them at most) and the
 * convolution reads them from there, so the depthwise output never goes to
 * memory. Only where the convolution runs as runs of whole images. */
size_t fc_depthwise_conv_forward_team_workspace_bytes(const fc_conv_geom *gd,
                                                      const fc_conv_geom *g, fc_int N,
                                                      int nthreads, size_t elem)
{
    return scratch_team_workspace(gd, g, N, nthreads, elem);
}

/* Which depthwise kernel pass `pass` (0 forward, 1 input gradient) of a geometry
 * takes, and its work items over N images (*items): image-major (n, k) planes (n, c
 * for the input gradient) for the flat and row kernels (or, for flat planes smaller
 * than a vector, vector positions), image-major (image, 8-channel block) items for
 * the small-plane kernels, channel-major (k, n) planes (a run's images share a
 * filter) otherwise. */
enum { FC_DW_PLANES = 0, FC_DW_ROWS = 1, FC_DW_SMALL = 2, FC_DW_FLAT = 3 };

static int depthwise_kind(const fc_conv_geom *g, int pass, fc_int N, size_t elem, fc_int *items)
{
    const fc_int planes = N * (pass ? g->C : g->K);
    if (fc_depthwise_flat_fits(g, pass, elem)) {
        *items = fc_depthwise_flat_items(g, pass, N, elem);
        return FC_DW_FLAT;
    }
    if (fc_depthwise_rows_fits(g, pass)) {
        *items = planes;
        return FC_DW_ROWS;
    }
    if (fc_depthwise_small_fits(g, pass)) {
        *items = N * fc_depthwise_small_blocks(g);
        return FC_DW_SMALL;
    }
    *items = planes;
    return FC_DW_PLANES;
}

/* The two drivers that keep runs of images in a per-thread scratch (conv -> pooling,
 * depthwise -> convolution; workspace: scratch_team_workspace): runs of images handed
 * out statically (FC_IMAGE_RUNS_PER_THREAD), each taken in turns of at most
 * conv_pool_images(gi) images, whose
 * `per_image`-element outputs go to the thread's scratch after its workspace. The
 * body sees n (the turn's first image), m (its images), scratch and mine (the
 * thread's workspace); the caller has t, N, work and T. */
#define FC_SCRATCH_RUNS(gi, per_image, ...)                                                \
    do {                                                                                   \
        const fc_int nt_ = t.nt, imgs_ = conv_pool_images(gi, sizeof(T));                  \
        const size_t per_ = round64((size_t)(per_image) * (size_t)imgs_ * sizeof(T));      \
        const fc_int runs_ = image_runs(N, (int)nt_, 1);                                   \
        fc_int i_;                                                                         \
        FC_TEAM_FOR(static, nt_, i_, runs_, {                                              \
            char *mine = work + (t.ws + per_) * (size_t)FC_THREAD_ID();                    \
            T *scratch = (T *)(mine + t.ws);                                               \
            const fc_int n1_ = (i_ + 1) * N / runs_;                                       \
            for (fc_int n = i_ * N / runs_; n < n1_; n += imgs_) {                         \
                const fc_int m = n1_ - n < imgs_ ? n1_ - n : imgs_;                        \
                __VA_ARGS__                                                                \
            }                                                                              \
        });                                                                                \
    } while (0)

#define T float
#define SUFFIX f32
#include "forward_team_impl.h"
#undef T
#undef SUFFIX

#define T double
#define SUFFIX f64
#include "forward_team_impl.h"
#undef T
#undef SUFFIX
