/*
 * conv_plan_memo.c -- the Winograd switches read from the environment, and what each
 * thread keeps between calls: the convolution plans it made and the workspace bounds it
 * computed, both looked up by a hash of what they depend on (conv.c makes them).
 * Split from conv.c, which had grown past 600 lines.
 */
#include <stdlib.h>
#include <string.h>
#include "conv_internal.h"
#include "team.h"

/* FASTCONV_NO_WINOGRAD set to anything but "" or "0" turns the path off
 * (read at every plan, so a running program can switch). */
int fc_winograd_enabled(void)
{
    const char *env = getenv("FASTCONV_NO_WINOGRAD");
    return env == NULL || env[0] == '\0' || strcmp(env, "0") == 0;
}

/* Whether FASTCONV_WINOGRAD is set to mode. */
static int fc_winograd_mode_is(const char *mode)
{
    const char *env = getenv("FASTCONV_WINOGRAD");
    return env != NULL && strcmp(env, mode) == 0;
}

int fc_winograd_forced(void)
{
    return fc_winograd_mode_is("always");
}

int fc_winograd4_forced(void)
{
    return fc_winograd_mode_is("f4");
}

int fc_winograd_s2_forced(void)
{
    return fc_winograd_mode_is("s2");
}

/* The switches as the memos' key (bit 0: enabled, 1: "always", 2: "f4", 3: "s2"): read at
 * every lookup, so that a running program can switch -- on Linux in one pass over the
 * environment instead of three getenv scans (a batch-1 inference looks up a few plans
 * per layer: the scans were 1-2% of MobileNet's). The first entry of each name counts,
 * as for getenv. */
#if defined(__linux__)
extern char **environ;
#endif
static int fc_winograd_switches(void)
{
#if defined(__linux__)
    const char *no = NULL, *mode = NULL;
    for (char **e = environ; e && *e && !(no && mode); ++e) {
        const char *v = *e;
        if (v[0] != 'F' || strncmp(v, "FASTCONV_", 9) != 0)
            continue;
        if (!no && strncmp(v + 9, "NO_WINOGRAD=", 12) == 0)
            no = v + 21;
        else if (!mode && strncmp(v + 9, "WINOGRAD=", 9) == 0)
            mode = v + 18;
    }
    return (no == NULL || no[0] == '\0' || strcmp(no, "0") == 0) |
           (mode != NULL && strcmp(mode, "always") == 0) << 1 |
           (mode != NULL && strcmp(mode, "f4") == 0) << 2 |
           (mode != NULL && strcmp(mode, "s2") == 0) << 3;
#else
    return fc_winograd_enabled() | fc_winograd_forced() << 1 | fc_winograd4_forced() << 2 |
           fc_winograd_s2_forced() << 3;
#endif
}

/* Every driver makes its plan at every call, on each thread; at batch 1 that was
 * 2-3% of an inference (the Winograd block search divides, the switches are
 * read from the environment). A thread keeps the plans it made in a small
 * table indexed by a hash of what a plan depends on -- the geometry, the pass,
 * the element size and the Winograd switches, which are still read at every
 * call, so that a running program can switch (FC_PLAN_MEMO plans: more than
 * the distinct convolutions of the model zoo's networks). */
#define FC_PLAN_MEMO 64
typedef struct fc_plan_memo {
    fc_conv_geom g;
    int op, elem, env, used;
    fc_conv_plan pl;
} fc_plan_memo;
static FC_THREAD_LOCAL fc_plan_memo fc_plan_memos[FC_PLAN_MEMO];

static int fc_geom_same(const fc_conv_geom *a, const fc_conv_geom *b)
{
    return a->C == b->C && a->H == b->H && a->W == b->W && a->K == b->K && a->R == b->R &&
           a->S == b->S && a->Ho == b->Ho && a->Wo == b->Wo && a->stride_h == b->stride_h &&
           a->stride_w == b->stride_w && a->pad_top == b->pad_top &&
           a->pad_left == b->pad_left && a->dil_h == b->dil_h && a->dil_w == b->dil_w &&
           a->winograd == b->winograd;
}

/* What a plan depends on, hashed: the geometry, the pass, the element size, the switches. */
static uint64_t fc_plan_hash(const fc_conv_geom *g, int op, size_t elem, int env)
{
    uint64_t h = (uint64_t)op * 0x9E3779B97F4A7C15ull ^ (uint64_t)elem ^ (uint64_t)env << 8;
    const fc_int f[] = {g->C, g->H, g->W, g->K, g->R, g->S, g->Ho, g->Wo, g->stride_h,
                        g->stride_w, g->pad_top, g->pad_left, g->dil_h, g->dil_w, g->winograd};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); ++i)
        h = (h ^ (uint64_t)f[i]) * 0x100000001B3ull;
    return h;
}

void fc_conv_plan_make(const fc_conv_geom *g, int op, size_t elem, fc_conv_plan *pl)
{
    const int env = fc_winograd_switches();
    const uint64_t h = fc_plan_hash(g, op, elem, env);
    fc_plan_memo *m = &fc_plan_memos[(h ^ h >> 29) % FC_PLAN_MEMO];
    if (m->used && m->op == op && m->elem == (int)elem && m->env == env &&
        fc_geom_same(&m->g, g)) {
        *pl = m->pl;
        return;
    }
    fc_conv_plan_build(g, op, elem, pl);
    m->g = *g;
    m->op = op;
    m->elem = (int)elem;
    m->env = env;
    m->used = 1;
    m->pl = *pl;
}

/* The workspace bound is asked for at every call of every driver (the inference
 * program: each convolution, each call), and it makes the plans of all three passes:
 * seven of every eight plan lookups of a batch-1 MobileNet inference. A thread keeps
 * the last bounds it computed, keyed as the plans are (the Winograd switches read
 * at every call). */
#define FC_WS_MEMO 32
typedef struct fc_ws_memo {
    fc_conv_geom g;
    int elem, env, used;
    size_t bytes;
} fc_ws_memo;
static FC_THREAD_LOCAL fc_ws_memo fc_ws_memos[FC_WS_MEMO];

size_t fc_conv2d_workspace_bytes(const fc_conv_geom *g, size_t elem)
{
    const int env = fc_winograd_switches();
    const uint64_t h = fc_plan_hash(g, FC_OP_BWD_WEIGHT + 1, elem, env);
    fc_ws_memo *m = &fc_ws_memos[(h ^ h >> 29) % FC_WS_MEMO];
    if (m->used && m->elem == (int)elem && m->env == env && fc_geom_same(&m->g, g))
        return m->bytes;
    const size_t bytes = fc_conv2d_workspace_bytes_make(g, elem);
    m->g = *g;
    m->elem = (int)elem;
    m->env = env;
    m->used = 1;
    m->bytes = bytes;
    return bytes;
}
