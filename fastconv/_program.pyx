# cython: language_level=3
"""Inference programs: ops over numbered buffers, run in one call into C
(csrc/program.c). fastconv.models.program makes them from a model's plan.

A BufferTable holds the buffers' addresses (each with the array behind it, kept
alive, and the byte count the ops need of it, checked on every bind); a Program
holds the ops and points into the weight arrays it keeps. Arguments are trusted
beyond those checks: the maker derived every geometry from the checked layers."""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_ANY_CONTIGUOUS, PyBUF_WRITABLE
from libc.stdlib cimport calloc, free
from fastconv._capi cimport *
from fastconv._runtime cimport take_scratch, give_scratch


# The C enum fc_op_kind (csrc/fastconv.h) by name: its single definition is the header.
OPS = {
    "conv": FC_OP_CONV,
    "depthwise": FC_OP_DEPTHWISE,
    "max_pool": FC_OP_MAX_POOL,
    "avg_pool": FC_OP_AVG_POOL,
    "plane_means": FC_OP_PLANE_MEANS,
    "linear": FC_OP_LINEAR,
    "add": FC_OP_ADD,
    "to_nchw": FC_OP_TO_NCHW,
}


cdef void *_address(object arr, bint writable, Py_ssize_t need, object what) except? NULL:
    """The data address of a contiguous array of at least `need` bytes (`what` names it
    in the error: a buffer number or a string)."""
    cdef Py_buffer view
    cdef void *p
    cdef Py_ssize_t n
    PyObject_GetBuffer(arr, &view, PyBUF_ANY_CONTIGUOUS | (PyBUF_WRITABLE if writable else 0))
    p = view.buf
    n = view.len
    PyBuffer_Release(&view)
    if n < need:
        label = f"buffer {what}" if isinstance(what, int) else what
        raise ValueError(f"{label}: {n} bytes, the program needs {need}")
    return p


cdef class BufferTable:
    """Addresses of a program's buffers; bind(i, array) before each run that reads or
    writes buffer i."""
    cdef void **ptrs
    cdef Py_ssize_t *need
    cdef readonly int size
    cdef list held

    def __cinit__(self, needs):
        cdef int i
        self.size = len(needs)
        self.ptrs = <void **> calloc(max(self.size, 1), sizeof(void *))
        self.need = <Py_ssize_t *> calloc(max(self.size, 1), sizeof(Py_ssize_t))
        if self.ptrs == NULL or self.need == NULL:
            raise MemoryError("BufferTable: out of memory")
        for i in range(self.size):
            self.need[i] = needs[i]
        self.held = [None] * self.size

    def __dealloc__(self):
        free(self.ptrs)
        free(self.need)

    def bind(self, int i, arr, bint writable=True):
        """Buffer i is arr (contiguous, at least the bytes the program needs of it;
        writable unless only read, as a model input)."""
        if i < 0 or i >= self.size:
            raise IndexError(f"buffer {i} of {self.size}")
        self.ptrs[i] = _address(arr, writable, self.need[i], i)
        self.held[i] = arr


cdef class Program:
    """The ops of one run of consecutive steps (tuples made by fastconv.models.program)."""
    cdef fc_op *ops
    cdef readonly int nops
    cdef readonly Py_ssize_t n   # images per run (the buffers are sized for it)
    cdef public Py_ssize_t chunk  # 0: each op over all n images; else images in chunks of this
    cdef int itemsize
    cdef list keep
    cdef int *used          # the buffers the ops read or write
    cdef int nused
    cdef Py_ssize_t ws_n    # the workspace size last asked for, and its (N, chunk, threads)
    cdef Py_ssize_t ws_chunk
    cdef int ws_threads
    cdef size_t ws

    def __cinit__(self, list specs, int itemsize, Py_ssize_t n):
        cdef int i
        cdef fc_op *op
        if itemsize not in (4, 8):
            raise ValueError(f"Program: itemsize must be 4 or 8, got {itemsize}")
        if n < 1:
            raise ValueError(f"Program: n must be at least 1, got {n}")
        self.n = n
        self.nops = len(specs)
        self.itemsize = itemsize
        self.ops = <fc_op *> calloc(max(self.nops, 1), sizeof(fc_op))
        if self.ops == NULL:
            raise MemoryError("Program: out of memory")
        self.keep = []
        self.ws_n = -1
        used = set()
        for i, spec in enumerate(specs):
            op = &self.ops[i]
            (kind, act, act_param, in0, in1, out, conv, pool, channels, size, units,
             weight, bias) = spec[:13]
            pool_after = spec[13] if len(spec) > 13 else 0
            pre = spec[14] if len(spec) > 14 else None
            if not 0 <= kind <= FC_OP_TO_NCHW:
                raise ValueError(f"Program: unknown op kind {kind}")
            if pool_after not in (0, FC_OP_MAX_POOL, FC_OP_AVG_POOL) or (
                    pool_after and (kind != FC_OP_CONV or pool is None or in1 >= 0)):
                raise ValueError(f"Program: pool_after {pool_after} needs a conv op without "
                                 f"residual and a pooling geometry")
            op.pool_after = pool_after
            if pre is not None:
                if kind != FC_OP_CONV or pool_after or in1 >= 0 or conv is None:
                    raise ValueError("Program: a depthwise convolution can only run before a "
                                     "conv op without residual or pooling")
                dw_args, dw_weight, dw_bias, dw_act, dw_param = pre
                (op.dw.C, op.dw.H, op.dw.W, op.dw.K, op.dw.R, op.dw.S, op.dw.Ho, op.dw.Wo,
                 op.dw.stride_h, op.dw.stride_w, op.dw.pad_top, op.dw.pad_left, op.dw.dil_h,
                 op.dw.dil_w, op.dw.winograd) = dw_args
                if (op.dw.K != conv[0] or op.dw.Ho != conv[1] or op.dw.Wo != conv[2]
                        or op.dw.K != op.dw.C):
                    raise ValueError(f"Program: depthwise output {op.dw.K}x{op.dw.Ho}x{op.dw.Wo} "
                                     f"is not the conv input {conv[0]}x{conv[1]}x{conv[2]}")
                op.pre_depthwise = 1
                op.dw_act, op.dw_act_param = dw_act, dw_param
                op.dw_weight = _address(dw_weight, False, 0, "depthwise weight")
                self.keep.append(dw_weight)
                if dw_bias is not None:
                    op.dw_bias = _address(dw_bias, False, 0, "depthwise bias")
                    self.keep.append(dw_bias)
            op.kind, op.act, op.act_param = kind, act, act_param
            op.in0, op.in1, op.out = in0, in1, out
            used.update(b for b in (in0, in1, out) if b >= 0)
            if conv is not None:
                (op.conv.C, op.conv.H, op.conv.W, op.conv.K, op.conv.R, op.conv.S, op.conv.Ho,
                 op.conv.Wo, op.conv.stride_h, op.conv.stride_w, op.conv.pad_top,
                 op.conv.pad_left, op.conv.dil_h, op.conv.dil_w, op.conv.winograd) = conv
            if pool is not None:
                geometry, cip = pool
                (op.pool.H, op.pool.W, op.pool.Ho, op.pool.Wo, op.pool.kh, op.pool.kw,
                 op.pool.stride_h, op.pool.stride_w, op.pool.pad_h, op.pool.pad_w,
                 op.pool.pad_bottom, op.pool.pad_right, op.pool.dil_h, op.pool.dil_w) = geometry
                op.pool.count_include_pad = cip
            op.channels, op.size, op.units = channels, size, units
            if weight is not None:
                op.weight = _address(weight, False, 0, "weight")
                self.keep.append(weight)
            if bias is not None:
                op.bias = _address(bias, False, 0, "bias")
                self.keep.append(bias)
        self.nused = len(used)
        self.used = <int *> calloc(max(self.nused, 1), sizeof(int))
        if self.used == NULL:
            raise MemoryError("Program: out of memory")
        for i, b in enumerate(sorted(used)):
            self.used[i] = b

    def __dealloc__(self):
        free(self.ops)
        free(self.used)


def run(Program program, BufferTable table, int num_threads, double[::1] seconds=None):
    """Run `program` over its batch with the buffers bound in `table`; `seconds` (None or
    one float64 per op) has each op's wall time added to it."""
    cdef size_t ws
    cdef Py_ssize_t N = program.n
    cdef double *sp = NULL
    if seconds is not None:
        if seconds.shape[0] < program.nops:
            raise ValueError(f"seconds: {seconds.shape[0]} entries for {program.nops} ops")
        sp = &seconds[0]
    cdef char *work
    cdef int i, b
    for i in range(program.nused):
        b = program.used[i]
        if b >= table.size or table.ptrs[b] == NULL:
            raise ValueError(f"buffer {b} is not bound")
    cdef Py_ssize_t chunk = program.chunk
    if program.ws_n != N or program.ws_threads != num_threads or program.ws_chunk != chunk:
        program.ws = fc_program_workspace_bytes(program.ops, program.nops, N, chunk, num_threads,
                                                program.itemsize)
        program.ws_n, program.ws_threads, program.ws_chunk = N, num_threads, chunk
    ws = program.ws
    work = <char *> take_scratch(ws)
    if work == NULL:
        raise MemoryError(f"inference program: cannot allocate {ws} bytes of workspace")
    try:
        with nogil:
            if program.itemsize == 4:
                fc_program_run_f32(program.ops, program.nops, table.ptrs, N, chunk, num_threads,
                                   work, sp)
            else:
                fc_program_run_f64(program.ops, program.nops, table.ptrs, N, chunk, num_threads,
                                   work, sp)
    finally:
        give_scratch(work)


def transpose_images(x, y, Py_ssize_t A, Py_ssize_t B, int num_threads):
    """y (N, B, A) = x (N, A, B) for C-contiguous float32/float64 arrays of N*A*B
    elements each (any shapes), on up to ``num_threads`` threads."""
    if x.dtype != y.dtype or x.dtype.char not in "fd":
        raise TypeError(f"transpose_images: float32/float64 arrays of one dtype, got "
                        f"{x.dtype} and {y.dtype}")
    if not (x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable):
        raise ValueError("transpose_images: x and y must be C-contiguous, y writable")
    if A < 0 or B < 0 or x.size != y.size or (x.size and (A * B == 0 or x.size % (A * B))):
        raise ValueError(f"transpose_images: {x.size} and {y.size} elements do not make "
                         f"(N, {A}, {B}) images")
    if x.size == 0:
        return y
    cdef Py_ssize_t N = x.size // (A * B)
    cdef float[::1] xf, yf
    cdef double[::1] xd, yd
    if x.dtype.char == "f":
        xf, yf = x.reshape(-1), y.reshape(-1)
        with nogil:
            fc_transpose_images_f32(N, A, B, &xf[0], &yf[0], num_threads)
    else:
        xd, yd = x.reshape(-1), y.reshape(-1)
        with nogil:
            fc_transpose_images_f64(N, A, B, &xd[0], &yd[0], num_threads)
    return y


def _set_simd_path(int path):
    """Force a SIMD path in this module (codes of fc_simd_path); returns the code in force."""
    return fc_set_simd_path(path)
