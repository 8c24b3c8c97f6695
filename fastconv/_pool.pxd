# fastconv._pool: batch loops around the one-plane pooling kernels of csrc/pool.c.
from fastconv._capi cimport fc_pool_geom

cdef fc_pool_geom make_pool_geom(tuple geometry, bint count_include_pad)
