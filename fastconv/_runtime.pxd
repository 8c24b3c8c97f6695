# fastconv._runtime: OpenMP and SIMD facts of this build. Other modules cimport
# the scratch cache and the team-size rule from here.
from fastconv._capi cimport fc_conv_geom, fc_int

cdef void *take_scratch(size_t nbytes) noexcept
cdef void give_scratch(void *p) noexcept

# The team-size rule and its thresholds live in csrc/team.h (the C drivers use them too).
cdef extern from "team.h" nogil:
    enum:
        MIN_PARALLEL_WORK "FC_MIN_PARALLEL_WORK"
        ELEMENT_WORK "FC_ELEMENT_WORK"
    int team_size "fc_team_size"(int requested, Py_ssize_t units, double work)
    double depthwise_work "fc_depthwise_work"(const fc_conv_geom *g, fc_int N)
