# cython: language_level=3
"""Facts of this build that only compiled code can tell: OpenMP, threads, SIMD path."""
from fastconv._capi cimport (fc_cpu_has_avx2_fma, fc_cpu_has_avx512, fc_winograd_enabled, fc_simd_path, fc_set_simd_path,
                             fc_simd_path_name)

cdef extern from *:
    """
    #include <stdlib.h>
    #include <stdint.h>
    #ifdef _OPENMP
    #include <omp.h>
    static int fc_openmp_enabled(void) { return 1; }
    static int fc_openmp_version(void) { return _OPENMP; }
    static int fc_omp_max_threads(void) { return omp_get_max_threads(); }
    static int fc_omp_num_procs(void) { return omp_get_num_procs(); }
    static void fc_omp_set_num_threads(int n) { omp_set_num_threads(n); }
    #else
    static int fc_openmp_enabled(void) { return 0; }
    static int fc_openmp_version(void) { return 0; }
    static int fc_omp_max_threads(void) { return 1; }
    static int fc_omp_num_procs(void) { return 1; }
    static void fc_omp_set_num_threads(int n) { (void)n; }
    #endif
    /* Scratch buffers of the kernels, kept between calls: a training step
     * asks for the same few workspaces (several MB) again and again, and a
     * fresh allocation of that size is a fresh mmap whose pages all fault
     * in again. Each buffer carries its capacity in a 64-byte header. The
     * cache is only touched with the GIL held, which serialises it; each
     * call takes buffers for itself, so concurrent calls never share one. */
    #define FC_SCRATCH_SLOTS 4
    static char *fc_scratch_slot[FC_SCRATCH_SLOTS];
    static size_t fc_scratch_cap[FC_SCRATCH_SLOTS];
    static void *fc_scratch_take(size_t nbytes) {
        if (nbytes == 0) nbytes = 64;
        if (nbytes > SIZE_MAX - 128) return NULL;  /* rounding up would wrap */
        nbytes = (nbytes + 63) & ~(size_t)63;
        int best = -1;
        for (int i = 0; i < FC_SCRATCH_SLOTS; ++i)
            if (fc_scratch_slot[i] && fc_scratch_cap[i] >= nbytes &&
                (best < 0 || fc_scratch_cap[i] < fc_scratch_cap[best]))
                best = i;
        if (best >= 0) {
            char *p = fc_scratch_slot[best];
            fc_scratch_slot[best] = NULL;
            return p;
        }
        void *raw = NULL;
        if (posix_memalign(&raw, 64, nbytes + 64) != 0) return NULL;
        *(size_t *)raw = nbytes;
        return (char *)raw + 64;
    }
    static void fc_scratch_give(void *p) {
        if (!p) return;
        char *raw = (char *)p - 64;
        size_t cap = *(size_t *)raw;
        int slot = -1;
        for (int i = 0; i < FC_SCRATCH_SLOTS; ++i)
            if (!fc_scratch_slot[i]) { slot = i; break; }
        if (slot < 0) {  /* full: replace the smallest, if smaller */
            for (int i = 0; i < FC_SCRATCH_SLOTS; ++i)
                if (fc_scratch_cap[i] < cap && (slot < 0 || fc_scratch_cap[i] < fc_scratch_cap[slot]))
                    slot = i;
            if (slot < 0) { free(raw); return; }
            free(fc_scratch_slot[slot] - 64);
        }
        fc_scratch_slot[slot] = (char *)p;
        fc_scratch_cap[slot] = cap;
    }
    static void fc_scratch_drop_all(void) {
        for (int i = 0; i < FC_SCRATCH_SLOTS; ++i)
            if (fc_scratch_slot[i]) { free(fc_scratch_slot[i] - 64); fc_scratch_slot[i] = NULL; }
    }
    static size_t fc_scratch_cached_bytes(void) {
        size_t n = 0;
        for (int i = 0; i < FC_SCRATCH_SLOTS; ++i)
            if (fc_scratch_slot[i]) n += fc_scratch_cap[i];
        return n;
    }
    """
    int fc_openmp_enabled() nogil
    int fc_openmp_version() nogil
    int fc_omp_max_threads() nogil
    int fc_omp_num_procs() nogil
    void fc_omp_set_num_threads(int n) nogil
    void *fc_scratch_take(size_t nbytes)
    void fc_scratch_give(void *p)
    void fc_scratch_drop_all()
    size_t fc_scratch_cached_bytes()


cdef void *take_scratch(size_t nbytes) noexcept:
    """64-byte aligned scratch of at least nbytes (a cached one when it fits), or NULL
    when the allocation fails. Call with the GIL held; hand it back with give_scratch."""
    return fc_scratch_take(nbytes)


cdef void give_scratch(void *p) noexcept:
    """Return a take_scratch buffer (NULL is fine) to the cache, or free it. GIL held."""
    fc_scratch_give(p)


def release_scratch():
    """Free the kernels' cached scratch buffers (they are otherwise kept for the next call)."""
    fc_scratch_drop_all()


def scratch_cached_bytes():
    """Bytes of scratch held in the cache between calls."""
    return fc_scratch_cached_bytes()


def openmp_enabled():
    """True when this build's kernels were compiled with OpenMP."""
    return bool(fc_openmp_enabled())


def openmp_version():
    """The _OPENMP date (e.g. 201511) of the build, or 0 without OpenMP."""
    return fc_openmp_version()


def max_threads():
    """OpenMP's default team size (honours OMP_NUM_THREADS)."""
    return fc_omp_max_threads()


def num_procs():
    return fc_omp_num_procs()


def set_omp_threads(int n):
    fc_omp_set_num_threads(n)


def cpu_has_avx2_fma():
    return bool(fc_cpu_has_avx2_fma())


def cpu_has_avx512():
    return bool(fc_cpu_has_avx512())


def winograd_enabled():
    """False when FASTCONV_NO_WINOGRAD turns the Winograd convolution path off."""
    return bool(fc_winograd_enabled())


def simd_path():
    """Name of the SIMD path this module's kernels use."""
    return fc_simd_path_name(fc_simd_path()).decode()


def _set_simd_path(int path):
    """Force path 0 (portable), 1 (AVX2) or 2 (AVX-512) in this module; returns the code in force."""
    return fc_set_simd_path(path)
