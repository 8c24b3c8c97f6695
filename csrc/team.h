/* How many threads a job is worth waking: the one rule every batch-level
 * driver uses (the C drivers in forward_team.c and program.c, and the Cython
 * bindings through fastconv/_runtime.pxd). */
#ifndef FC_TEAM_H
#define FC_TEAM_H

#include "fastconv.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* [*lo, *hi): the calling thread's even share of n units inside an OpenMP parallel
 * region (all n outside one, or in a serial build). */
static inline void fc_omp_share(fc_int n, fc_int *lo, fc_int *hi)
{
#ifdef _OPENMP
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
    const int nt = 1, id = 0;
#endif
    *lo = n * id / nt;
    *hi = n * (id + 1) / nt;
}

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

/* The loops of one inference-program run of images (fc_program_run): slot k
 * belongs to the k-th FC_TEAM_FOR every thread of the team meets -- they all
 * walk the same op list, so the k-th is the same loop on each -- and holds the
 * next iteration to hand out and the number finished. A cache line each. */
typedef struct fc_team_slot {
    fc_int next, done;
    char pad[64 - 2 * sizeof(fc_int)];
} fc_team_slot;
typedef struct fc_team_loops {
    fc_team_slot *slot;
    int cap, threads;
} fc_team_loops;
extern FC_THREAD_LOCAL fc_team_loops *fc_program_loops;
extern FC_THREAD_LOCAL int fc_program_loop;
/* This thread's number in the program's team (0 .. threads - 1): the pool's
 * threads are not an OpenMP team, so FC_THREAD_ID reads it there; and whether
 * the team is the program pool's (program_pool.h) rather than OpenMP's. */
extern FC_THREAD_LOCAL int fc_program_tid;
extern FC_THREAD_LOCAL int fc_program_pooled;

/* This thread's next loop slot, or NULL past the run's capacity (every thread
 * of an OpenMP team then takes the same barrier-ended loop; in the program
 * pool the first thread runs it alone). */
static inline fc_team_slot *fc_team_loop_begin(void)
{
    const int k = fc_program_loop++;
    fc_team_loops *loops = fc_program_loops;
    return loops && k < loops->cap ? &loops->slot[k] : NULL;
}

/* Iterations handed out at a time: one while there are few (a batch-1
 * layer's per-thread parts), else about eight batches per thread -- an atomic
 * operation per iteration on a cache line both cores write cost more than
 * pooling thousands of 2x2 planes. */
static inline fc_int fc_team_loop_chunk(fc_int n)
{
    const fc_int per = 8 * (fc_int)fc_program_loops->threads;
    return n > per ? n / per : 1;
}

/* The next iterations [*i0, *i1) this thread runs of the slot's loop of n
 * (chunk c at a time), or 0 when none are left. A loop of at most 63 single
 * iterations -- the parts a batch-1 layer is cut into, the runs of images of a
 * batch -- is handed out by preference: each thread arriving claims its own
 * share, iterations [tid * n / threads, (tid + 1) * n / threads), with one
 * atomic operation, runs those of them no other thread took before it came,
 * then takes, one at a time, any a late thread left. So on every run the same
 * thread runs the same part of a layer and finds that part's weights in its
 * own core's cache, and in a batch each thread keeps to the same images from
 * layer to layer, as the drivers' static splits (pooling, depthwise,
 * element-wise) do (handed out first come, first served, parts and images
 * moved between the cores from run to run and from layer to layer). Claimed
 * one by one, the iterations of a batch-1 layer cost an atomic operation each
 * on a cache line both cores write (2-3 us of a 60 us inference). *k is the
 * thread's state (0 at the loop's start, then 1), *mine the iterations it
 * claimed and has not yet run. */
static inline int fc_team_loop_next(fc_team_slot *slot, fc_int n, fc_int c, fc_int *k,
                                    uint64_t *mine, fc_int *i0, fc_int *i1)
{
    if (c == 1 && n <= 63) {
        if (*k == 0) {
            const fc_int threads = fc_program_loops->threads, tid = fc_program_tid;
            const fc_int lo = tid * n / threads, own = (tid + 1) * n / threads - lo;
            const uint64_t want = ((((uint64_t)1) << own) - 1) << lo;
            *k = 1;
            *mine = want ? want & ~(uint64_t)__atomic_fetch_or(&slot->next, (fc_int)want,
                                                                __ATOMIC_RELAXED)
                         : 0;
        }
        if (*mine) {
            /* the lowest run of consecutive claimed iterations */
            const int a = __builtin_ctzll(*mine);
            const uint64_t rest = ~(*mine >> a);
            const int len = rest ? __builtin_ctzll(rest) : 64 - a;
            *i0 = a;
            *i1 = a + len;
            *mine &= ~(((len == 64 ? ~(uint64_t)0 : ((((uint64_t)1) << len) - 1))) << a);
            return 1;
        }
        const uint64_t all = (((uint64_t)1) << n) - 1;
        for (;;) {
            const uint64_t free = all & ~(uint64_t)__atomic_load_n(&slot->next, __ATOMIC_RELAXED);
            if (!free)
                return 0;
            const int cand = __builtin_ctzll(free);
            const fc_int bit = (fc_int)1 << cand;
            if (!(__atomic_fetch_or(&slot->next, bit, __ATOMIC_RELAXED) & bit)) {
                *i0 = cand;
                *i1 = cand + 1;
                return 1;
            }
        }
    }
    *i0 = __atomic_fetch_add(&slot->next, c, __ATOMIC_RELAXED);
    if (*i0 >= n)
        return 0;
    *i1 = *i0 + c < n ? *i0 + c : n;
    return 1;
}

/* Until all n iterations of the slot's loop are finished (their outputs are
 * then visible to this thread). */
void fc_team_loop_wait(fc_team_slot *slot, fc_int n);

/* for (i = 0; i < n; i++) body, on a team of nt threads started here (when
 * nt > 1), or, inside an inference program's team, shared out among its
 * threads. There the iterations are handed out (fc_team_loop_next: a few
 * single ones each to its own thread first, many in chunks to whichever thread
 * asks), and a thread goes on once every iteration is finished -- not
 * once every thread has arrived, as a barrier would have it: on a machine
 * whose other tenants take a core for milliseconds, a descheduled thread
 * stalled every op of a batch-1 inference (ResNet-20: 3x slower with one core
 * busy, against 2x for ONNX Runtime); now the others run its share (of a
 * batch-1 layer's parts, the share it has not claimed on arriving: measured
 * with one core kept busy, as before the claims were made in one operation).
 * `sched` is static or dynamic (the team started here); i is declared by the
 * caller. Callers give every iteration its own outputs, so which thread runs
 * it never matters. */
#define FC_PRAGMA_(x) _Pragma(#x)
#define FC_PRAGMA(x) FC_PRAGMA_(x)
#define FC_TEAM_FOR(sched, nt, i, n, ...)                                                  \
    do {                                                                                   \
        if (fc_in_program_team) {                                                          \
            fc_team_slot *fc_slot_ = fc_team_loop_begin();                                 \
            const fc_int fc_n_ = (n);                                                      \
            if (fc_slot_) {                                                                \
                const fc_int fc_c_ = fc_team_loop_chunk(fc_n_);                            \
                fc_int fc_k_ = 0, fc_i0_, fc_i1_;                                          \
                uint64_t fc_m_ = 0;                                                        \
                while (fc_team_loop_next(fc_slot_, fc_n_, fc_c_, &fc_k_, &fc_m_, &fc_i0_,    \
                                         &fc_i1_)) {                                       \
                    for (i = fc_i0_; i < fc_i1_; i++)                                      \
                        do __VA_ARGS__ while (0);                                          \
                    __atomic_fetch_add(&fc_slot_->done, fc_i1_ - fc_i0_, __ATOMIC_RELEASE); \
                }                                                                          \
                fc_team_loop_wait(fc_slot_, fc_n_);                                        \
            } else if (fc_program_pooled) {                                                \
                /* no OpenMP team to share with: the first thread runs it all (the   \
                 * others, past the slots for good, never work again this run) */    \
                if (fc_program_tid == 0)                                                   \
                    for (i = 0; i < fc_n_; i++) __VA_ARGS__                                \
            } else {                                                                       \
                FC_PRAGMA(omp for schedule(sched))                                         \
                for (i = 0; i < fc_n_; i++) __VA_ARGS__                                    \
            }                                                                              \
        } else {                                                                           \
            (void)(nt); /* read only by the pragma: unused in serial builds */             \
            FC_PRAGMA(omp parallel for schedule(sched) num_threads(nt) if ((nt) > 1))      \
            for (i = 0; i < (n); i++) __VA_ARGS__                                          \
        }                                                                                  \
    } while (0)

#ifdef _OPENMP
#include <omp.h>
#define FC_THREAD_ID() (fc_in_program_team ? fc_program_tid : omp_get_thread_num())
#else
#define FC_THREAD_ID() 0
#endif

#endif
