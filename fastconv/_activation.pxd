# fastconv._activation: element-wise activations and maxout over flat buffers.
cdef enum:
    # Below this many elements one thread is faster than waking a team.
    PARALLEL_MIN_ELEMENTS = 65536
