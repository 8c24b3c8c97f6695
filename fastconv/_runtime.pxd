# fastconv._runtime: OpenMP and SIMD facts of this build. Other modules cimport
# the aligned scratch allocator from here.
cdef void *aligned_scratch(size_t nbytes) noexcept nogil
cdef void free_scratch(void *p) noexcept nogil
