# fastconv._runtime: OpenMP and SIMD facts of this build. Other modules cimport
# the scratch cache and the team-size rule from here.
cdef void *take_scratch(size_t nbytes) noexcept
cdef void give_scratch(void *p) noexcept

# Below this many flops (or element visits) a job is done before a second thread
# would be awake; waking it costs more, and on a busy machine a barrier wait can
# cost a whole scheduler time slice.
cdef enum:
    MIN_PARALLEL_WORK = 1 << 20
    # One element visit of a memory-bound pass (pooling, activations) in flops.
    ELEMENT_WORK = 16


cdef inline int team_size(int requested, Py_ssize_t units, double work) noexcept nogil:
    """Threads worth waking for `units` independent pieces of `work` in all."""
    if requested <= 1 or units <= 1 or work < MIN_PARALLEL_WORK:
        return 1
    return <int> (requested if requested < units else units)
