# fastconv._conv: batch loops around the one-image convolution kernels of csrc/conv.c.
from fastconv._capi cimport fc_conv_geom

cdef fc_conv_geom make_geom(tuple geometry)
