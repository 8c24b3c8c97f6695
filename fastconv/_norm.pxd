# fastconv._norm: batch normalisation over (N, C, HW) views, calling csrc/batchnorm.c.
