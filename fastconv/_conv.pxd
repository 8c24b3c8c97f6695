# fastconv._conv: batch loops around the one-image convolution kernels of csrc/conv.c.
from fastconv._capi cimport fc_conv_geom

cdef fc_conv_geom make_geom(tuple geometry)

# Images are summed into this many partial weight gradients (fewer on the F(4x4)
# Winograd path: _weight_grad_chunks), each over a fixed run of images, then the
# partials are added in order: the result depends on the batch size and the
# geometry only, never on the thread count.
cdef enum:
    WEIGHT_GRAD_CHUNKS = 8
    WINOGRAD4_RUN_TILES = 512
    REDUCE_BLOCK = 4096
    IMAGE_RUNS_PER_THREAD = 4

cdef char *_scratch(size_t nbytes, str op, str what) except NULL
cdef size_t _times(size_t a, size_t b) noexcept nogil
