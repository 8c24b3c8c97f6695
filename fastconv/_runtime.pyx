# cython: language_level=3
"""Facts of this build that only compiled code can tell: OpenMP, threads, SIMD path."""
from libc.stdlib cimport free
from fastconv._capi cimport (fc_cpu_has_avx2_fma, fc_winograd_enabled, fc_simd_path, fc_set_simd_path,
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
    static void *fc_aligned_scratch(size_t nbytes) {
        void *p = NULL;
        if (nbytes == 0) nbytes = 64;
        if (nbytes > SIZE_MAX - 63) return NULL;  /* rounding up would wrap */
        if (posix_memalign(&p, 64, (nbytes + 63) & ~(size_t)63) != 0) return NULL;
        return p;
    }
    """
    int fc_openmp_enabled() nogil
    int fc_openmp_version() nogil
    int fc_omp_max_threads() nogil
    int fc_omp_num_procs() nogil
    void fc_omp_set_num_threads(int n) nogil
    void *fc_aligned_scratch(size_t nbytes) nogil


cdef void *aligned_scratch(size_t nbytes) noexcept nogil:
    """64-byte aligned scratch, or NULL when the allocation fails."""
    return fc_aligned_scratch(nbytes)


cdef void free_scratch(void *p) noexcept nogil:
    free(p)


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


def winograd_enabled():
    """False when FASTCONV_NO_WINOGRAD turns the Winograd convolution path off."""
    return bool(fc_winograd_enabled())


def simd_path():
    """Name of the SIMD path this module's kernels use."""
    return fc_simd_path_name(fc_simd_path()).decode()


def _set_simd_path(int path):
    """Force path 0 (portable) or 1 (AVX2) in this module; returns the code in force."""
    return fc_set_simd_path(path)
