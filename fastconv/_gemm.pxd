# fastconv._gemm: the packed GEMM of csrc/gemm.c on strided 2-D arrays.
