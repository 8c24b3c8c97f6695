# cython: language_level=3
"""Convolution over a batch: OpenMP over images, one C kernel call per image.

Arguments are trusted: fastconv.functional has validated shapes, dtypes and
geometry and allocated the outputs. `geometry` is the tuple
(C, H, W, K, R, S, Ho, Wo, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, winograd).
"""
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.string cimport memset, strcmp
from libc.stdint cimport SIZE_MAX
from fastconv._capi cimport *
from fastconv._runtime cimport take_scratch, give_scratch, team_size

# Image runs go to threads statically, as in the forward drivers (csrc/forward_team.c):
# each thread keeps the same images from layer to layer, in its core's cache.
# A single image's weight gradient is instead cut into parts of whole filters
# (multiples of FILTER_PART, at most FILTER_PARTS_MAX parts, again fixed by
# the shape alone), each computed whole by one thread.
cdef enum:
    FILTER_PART = 16
    FILTER_PARTS_MAX = 8
# How backward_weight splits its work (see its docstring).
cdef enum:
    IMAGE_RUNS = 0
    FILTER_PARTS = 1
    POINTWISE_FILTERS = 2
    WINOGRAD_FILTERS = 3


cdef fc_conv_geom make_geom(tuple geometry):
    cdef fc_conv_geom g
    (g.C, g.H, g.W, g.K, g.R, g.S, g.Ho, g.Wo,
     g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.dil_h, g.dil_w, g.winograd) = geometry
    return g


cdef size_t _round64(size_t n) nogil:
    # Saturates instead of wrapping: SIZE_MAX can never be allocated.
    if n > SIZE_MAX - 63:
        return SIZE_MAX
    return (n + 63) & ~(<size_t>63)


cdef size_t _times(size_t a, size_t b) noexcept nogil:
    """a * b, or SIZE_MAX (an allocation that fails) when the product overflows."""
    if a != 0 and b > SIZE_MAX // a:
        return SIZE_MAX
    return a * b


cdef double _flops(const fc_conv_geom *g, Py_ssize_t N) noexcept nogil:
    """Multiply-adds x 2 of one pass over N images."""
    return 2.0 * N * g.K * g.Ho * g.Wo * g.C * g.R * g.S


cdef char *_scratch(size_t nbytes, str op, str what) except NULL:
    """64-byte aligned scratch for a kernel; MemoryError naming the request if refused."""
    cdef char *p = <char *> take_scratch(nbytes)
    if p == NULL:
        raise MemoryError(f"{op}: cannot allocate {nbytes} bytes of {what}")
    return p


cdef char *_packed_weights(const fc_conv_geom *g, int which, const floating[:, :, :, ::1] w,
                           str op, Py_ssize_t nimg) except NULL:
    """The weights packed once for pass `which` of a batch of nimg images, read by every
    thread (hand back with give_scratch)."""
    cdef size_t nbytes = _round64(fc_conv2d_packed_weights_bytes(g, which, sizeof(floating)))
    cdef char *packed = _scratch(nbytes, op, "packed weights")
    with nogil:
        if floating is float:
            fc_conv2d_pack_weights_batch_f32(g, which, &w[0, 0, 0, 0], packed, nimg)
        else:
            fc_conv2d_pack_weights_batch_f64(g, which, &w[0, 0, 0, 0], packed, nimg)
    return packed


def _set_simd_path(int path):
    return fc_set_simd_path(path)


def workspace_bytes(tuple geometry, size_t itemsize):
    cdef fc_conv_geom g = make_geom(geometry)
    return fc_conv2d_workspace_bytes(&g, itemsize)


cdef int _forward_filters(const fc_conv_geom *g, const floating[:, :, :, ::1] x,
                          const floating[:, :, :, ::1] w, int flip, const floating[::1] bias,
                          int activation, double act_param, floating[:, :, :, ::1] y,
                          int num_threads, const floating *res=NULL) except -1:
    """The F(4x4) pass of few tiles and many channel pairs split by filters, its weights
    transformed block by block (csrc/conv_winograd4_filters.c); flip: backward-data on
    the transposed geometry g."""
    cdef Py_ssize_t N = x.shape[0], i
    cdef int nt = team_size(num_threads, fc_conv2d_forward_filters_ok(g, N, sizeof(floating)),
                            _flops(g, N))
    cdef size_t ws = _round64(fc_conv2d_forward_filters_bytes(g, N, sizeof(floating)))
    cdef char *work = _scratch(_times(ws, nt), "conv2d", f"workspace ({nt} threads)")
    cdef char *mywork
    cdef const floating *bptr = NULL
    if bias is not None:
        bptr = &bias[0]
    try:
        with nogil, parallel(num_threads=nt):
            mywork = work + ws * threadid()
            for i in prange(nt, schedule='static'):
                if floating is float:
                    fc_conv2d_forward_filters_part_f32(
                        g, N, &x[0, 0, 0, 0], &w[0, 0, 0, 0], flip, bptr, res, activation,
                        <float> act_param, &y[0, 0, 0, 0], i, nt, mywork)
                else:
                    fc_conv2d_forward_filters_part_f64(
                        g, N, &x[0, 0, 0, 0], &w[0, 0, 0, 0], flip, bptr, res, activation,
                        act_param, &y[0, 0, 0, 0], i, nt, mywork)
    finally:
        give_scratch(work)
    return 0


def forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w, const floating[::1] bias,
            tuple geometry, int activation, double act_param,
            floating[:, :, :, ::1] y, int num_threads):
    """y[n] = act(conv(x[n], w) + bias) for every image n."""
    cdef fc_conv_geom g = make_geom(geometry)
    if fc_conv2d_forward_filters_ok(&g, x.shape[0], sizeof(floating)):
        _forward_filters(&g, x, w, 0, bias, activation, act_param, y, num_threads)
        return
    cdef char *packed = _packed_weights(&g, FC_CONV_FORWARD, w, "conv2d", x.shape[0])
    try:
        _forward_run(&g, x, packed, bias, activation, act_param, y, num_threads)
    finally:
        give_scratch(packed)


def packed_weights_bytes(tuple geometry, size_t itemsize):
    """Bytes of the forward-packed weights of `geometry` (64-byte aligned buffer)."""
    cdef fc_conv_geom g = make_geom(geometry)
    return fc_conv2d_packed_weights_bytes(&g, FC_CONV_FORWARD, itemsize)


def conv_path(tuple geometry, int op, size_t itemsize):
    """Which kernels run op (0 forward, 1 backward-data) of one image of this geometry:
    'winograd' (F(2x2, 3x3)), 'winograd-f4' (F(4x4, 3x3)), 'channel-vector', 'direct',
    '1x1-rows' or 'gemm'; op 2 (backward-weight): 'winograd', 'winograd-f4', 'winograd-s2'
    or 'other'."""
    if op not in (0, 1, 2):
        raise ValueError(f"conv_path: op must be 0, 1 or 2, got {op}")
    cdef fc_conv_geom g = make_geom(geometry)
    return fc_conv2d_path(&g, op, itemsize).decode()


def pack_weights(const floating[:, :, :, ::1] w, tuple geometry, unsigned char[::1] out):
    """Pack w for the forward pass of `geometry` into out (64-byte aligned, >= packed_weights_bytes)."""
    cdef fc_conv_geom g = make_geom(geometry)
    if <size_t> &out[0] % 64 or <size_t> out.shape[0] < fc_conv2d_packed_weights_bytes(&g, FC_CONV_FORWARD, sizeof(floating)):
        raise ValueError(f"pack_weights: out must be 64-byte aligned and hold "
                         f"{fc_conv2d_packed_weights_bytes(&g, FC_CONV_FORWARD, sizeof(floating))} bytes, got "
                         f"{out.shape[0]} bytes at offset {<size_t> &out[0] % 64} from a 64-byte boundary")
    with nogil:
        if floating is float:
            fc_conv2d_pack_weights_f32(&g, FC_CONV_FORWARD, &w[0, 0, 0, 0], &out[0])
        else:
            fc_conv2d_pack_weights_f64(&g, FC_CONV_FORWARD, &w[0, 0, 0, 0], &out[0])


def forward_packed(const floating[:, :, :, ::1] x, const unsigned char[::1] packed,
                   const floating[::1] bias, tuple geometry, int activation, double act_param,
                   floating[:, :, :, ::1] y, int num_threads,
                   const floating[:, :, :, ::1] residual=None):
    """forward() with weights packed beforehand by pack_weights for the same geometry
    (bitwise the same result: the same packed bytes, the same kernels). residual (shaped
    like y, or None) is added before the activation: y = act(conv(x) + bias + residual)."""
    cdef fc_conv_geom g = make_geom(geometry)
    cdef const floating *rptr = NULL
    if residual is not None:
        rptr = &residual[0, 0, 0, 0]
    _forward_run(&g, x, <const char *> &packed[0], bias, activation, act_param, y, num_threads,
                 rptr)


cdef int _forward_run(const fc_conv_geom *g, const floating[:, :, :, ::1] x, const char *packed,
                      const floating[::1] bias, int activation, double act_param,
                      floating[:, :, :, ::1] y, int num_threads,
                      const floating *res=NULL) except -1:
    """The batch driver of csrc/forward_team.c with its workspace from the scratch cache."""
    cdef Py_ssize_t N = x.shape[0]
    cdef size_t ws = fc_conv2d_forward_team_workspace_bytes(g, N, num_threads, sizeof(floating))
    cdef char *work = _scratch(ws, "conv2d", f"workspace ({num_threads} threads)")
    cdef const floating *bptr = NULL
    if bias is not None:
        bptr = &bias[0]
    try:
        with nogil:
            if floating is float:
                fc_conv2d_forward_team_f32(g, N, &x[0, 0, 0, 0], packed, bptr, res, activation,
                                           <float> act_param, &y[0, 0, 0, 0], num_threads, work)
            else:
                fc_conv2d_forward_team_f64(g, N, &x[0, 0, 0, 0], packed, bptr, res, activation,
                                           act_param, &y[0, 0, 0, 0], num_threads, work)
    finally:
        give_scratch(work)
    return 0


def backward_data(const floating[:, :, :, ::1] grad_out, const floating[:, :, :, ::1] w, tuple geometry,
                  floating[:, :, :, ::1] grad_x, int num_threads, const floating[::1] bias=None,
                  const floating[:, :, :, ::1] residual=None):
    """grad_x[n] = d conv / d x[n] applied to grad_out[n], for every image n; plus ``bias``
    (C,) per channel where given (a transposed convolution's) and ``residual`` (shaped like
    grad_x: another gradient of the same input), both added in the write-back -- bitwise
    the sums taken after."""
    cdef fc_conv_geom g = make_geom(geometry)
    cdef fc_conv_geom t
    cdef const floating *bptr = NULL
    cdef const floating *rptr = NULL
    if bias is not None:
        if bias.shape[0] != g.C:
            raise ValueError(f"backward_data: bias has {bias.shape[0]} values for {g.C} channels")
        bptr = &bias[0]
    if residual is not None:
        if (residual.shape[0] != grad_x.shape[0] or residual.shape[1] != grad_x.shape[1]
                or residual.shape[2] != grad_x.shape[2] or residual.shape[3] != grad_x.shape[3]):
            raise ValueError("backward_data: the residual's shape differs from grad_x's")
        if residual.shape[0]:
            rptr = &residual[0, 0, 0, 0]
    cdef Py_ssize_t N = grad_out.shape[0], n, chunk
    cdef int nt = team_size(num_threads, N, _flops(&g, N))
    # runs of whole Winograd tile panels (fc_conv2d_run_images): `per` images a unit
    cdef Py_ssize_t per = fc_conv2d_run_images(&g, FC_CONV_BACKWARD_DATA, sizeof(floating))
    cdef Py_ssize_t units = (N + per - 1) // per
    cdef Py_ssize_t nchunks = min(units, IMAGE_RUNS_PER_THREAD * nt), n1
    cdef size_t ws
    cdef char *work = NULL
    cdef char *packed = NULL
    cdef char *mywork
    # t: the transposed geometry whose forward pass this is, where the plan has one (a
    # 1x1 layer's, below, is made only for it: as_fwd is false for 1x1 layers)
    cdef bint as_fwd = fc_conv2d_backward_data_as_forward(&g, sizeof(floating), &t)
    if as_fwd and fc_conv2d_forward_filters_ok(&t, N, sizeof(floating)):
        _forward_filters(&t, grad_out, w, 1, bias, 0, 0.0, grad_x, num_threads, rptr)
        return
    if fc_conv2d_backward_data_1x1_as_forward(&g, N, &t) or (N < num_threads and as_fwd):
        # the forward pass of the transposed geometry t: a 1x1 layer's batch (dy read in
        # place), or fewer images than threads (the forward team shares each image)
        packed = _packed_weights(&g, FC_CONV_BACKWARD_DATA, w, "conv2d_backward", N)
        try:
            _forward_run(&t, grad_out, packed, bias, 0, 0.0, grad_x, num_threads, rptr)
        finally:
            give_scratch(packed)
        return
    ws = _round64(fc_conv2d_workspace_bytes(&g, sizeof(floating)))
    work = _scratch(_times(ws, nt), "conv2d_backward", f"workspace ({nt} threads)")
    try:
        packed = _packed_weights(&g, FC_CONV_BACKWARD_DATA, w, "conv2d_backward", N)
        with nogil, parallel(num_threads=nt):
            mywork = work + ws * threadid()
            for chunk in prange(nchunks, schedule='static'):
                n = min(N, chunk * units // nchunks * per)
                n1 = min(N, (chunk + 1) * units // nchunks * per)
                if floating is float:
                    fc_conv2d_backward_data_packed_batch_f32(
                        &g, n1 - n, &grad_out[n, 0, 0, 0], packed, bptr,
                        rptr + n * g.C * g.H * g.W if rptr != NULL else NULL,
                        &grad_x[n, 0, 0, 0], mywork)
                else:
                    fc_conv2d_backward_data_packed_batch_f64(
                        &g, n1 - n, &grad_out[n, 0, 0, 0], packed, bptr,
                        rptr + n * g.C * g.H * g.W if rptr != NULL else NULL,
                        &grad_x[n, 0, 0, 0], mywork)
    finally:
        give_scratch(work)
        give_scratch(packed)


def bias_grad(const floating[:, :, :, ::1] grad_out, floating[::1] grad_b, int num_threads):
    """grad_b[k] = the sum of grad_out[:, k] (a transposed convolution's bias gradient):
    images in order, channels shared by the team -- the same bits on any thread count."""
    cdef Py_ssize_t N = grad_out.shape[0], K = grad_out.shape[1]
    cdef Py_ssize_t P = grad_out.shape[2] * grad_out.shape[3], i
    if grad_b.shape[0] != K:
        raise ValueError(f"bias_grad: grad_b has {grad_b.shape[0]} values for {K} channels")
    cdef int nt = team_size(num_threads, K, <double> N * K * P)
    with nogil, parallel(num_threads=nt):
        for i in prange(nt, schedule='static'):
            if floating is float:
                fc_bias_grad_part_f32(N, K, P, &grad_out[0, 0, 0, 0], &grad_b[0], i * K // nt,
                                      (i + 1) * K // nt)
            else:
                fc_bias_grad_part_f64(N, K, P, &grad_out[0, 0, 0, 0], &grad_b[0], i * K // nt,
                                      (i + 1) * K // nt)


cdef inline void _sum_partials(floating *out, const char *partials, size_t part_bytes,
                               Py_ssize_t nchunks, Py_ssize_t lo, Py_ssize_t hi,
                               Py_ssize_t base) noexcept nogil:
    """out[i - base] = ((0 + p_0[i]) + p_1[i]) + ... for i in [lo, hi), p_c the partial of
    chunk c: each element's sum in chunk order (as one chain per element), run chunk by
    chunk over the range so that the adds are vectors (element by element, a chain of
    strided loads took ~70 us of a 32 K-weight gradient)."""
    cdef Py_ssize_t i, chunk
    cdef floating *o = out - base
    cdef const floating *src
    if hi <= lo:
        return
    src = <const floating *> partials
    for i in range(lo, hi):
        o[i] = 0
        o[i] = o[i] + src[i]
    for chunk in range(1, nchunks):
        src = <const floating *> (partials + part_bytes * chunk)
        for i in range(lo, hi):
            o[i] = o[i] + src[i]


cdef inline Py_ssize_t _filter_part_start(Py_ssize_t i, Py_ssize_t parts, Py_ssize_t K) nogil:
    return K if i >= parts else (i * (K // FILTER_PART) // parts) * FILTER_PART


cdef Py_ssize_t _weight_grad_chunks(const fc_conv_geom *g, Py_ssize_t N,
                                    size_t itemsize) noexcept nogil:
    """Runs of images backward_weight sums separately (a function of the geometry and
    the batch, never of the thread count). F(4x4) Winograd pays a fixed cost per run
    (its 36 K x C accumulators zeroed, then transformed back), so there each run gets
    at least WINOGRAD4_RUN_TILES 4x4 tiles (and there are at least two runs, one per core
    of a small machine): 512, measured in training steps, where the accumulators no
    longer sit in cache from the previous call (ResNet-20's 32-channel 16x16 layers at
    batch 64, 1024 tiles: 8 runs 1.04 ms, 2 runs 0.95; tfcnn's 32 -> 64 15x15 layer
    1.70 -> 1.55 ms). The stride-2 path's 25 K x 4C accumulators follow the same rule."""
    cdef Py_ssize_t runs = min(N, WEIGHT_GRAD_CHUNKS), tiles
    cdef const char *path = fc_conv2d_path(g, FC_CONV_BACKWARD_WEIGHT, itemsize)
    if strcmp(path, b"winograd-f4") == 0 or strcmp(path, b"winograd-s2") == 0:
        tiles = N * ((g.Ho + 3) // 4) * ((g.Wo + 3) // 4)
        runs = min(runs, max(2, tiles // WINOGRAD4_RUN_TILES))
    return max(1, min(runs, N))


cdef int _weight_grad_split(const fc_conv_geom *g, Py_ssize_t N, size_t itemsize) noexcept nogil:
    """How backward_weight shares out its work (see its docstring)."""
    if fc_conv2d_backward_weight_filters_ok(g, N, itemsize):
        return WINOGRAD_FILTERS
    if N == 1 and g.K >= 2 * FILTER_PART:
        return FILTER_PARTS
    if fc_conv2d_backward_weight_1x1_ok(g, N):
        return POINTWISE_FILTERS
    return IMAGE_RUNS


def forward_split_by_filters(tuple geometry, Py_ssize_t N, size_t itemsize):
    """Whether forward (and backward_data, on its transposed geometry) run a batch of N
    split by filters with the weights transformed block by block
    (csrc/conv_winograd4_filters.c)."""
    if N < 1:
        raise ValueError(f"forward_split_by_filters: N must be >= 1, got {N}")
    cdef fc_conv_geom g = make_geom(geometry)
    return bool(fc_conv2d_forward_filters_ok(&g, N, itemsize))


def weight_grad_split(tuple geometry, Py_ssize_t N, size_t itemsize):
    """How backward_weight shares a batch of N out over the threads: 'image-runs',
    'filter-parts' (a single image), 'pointwise-filters' (1x1 on small maps) or
    'winograd-filters' (Winograd with few tiles and many channel pairs)."""
    if N < 1:
        raise ValueError(f"weight_grad_split: N must be >= 1, got {N}")
    cdef fc_conv_geom g = make_geom(geometry)
    return ("image-runs", "filter-parts", "pointwise-filters",
            "winograd-filters")[_weight_grad_split(&g, N, itemsize)]


def scatter_strided(const floating[:, :, :, ::1] src, int stride_h, int stride_w,
                    floating[:, :, :, ::1] dst, addend, int num_threads):
    """dst = src spread stride_h x stride_w apart (src[n, c, i, j] at dst[n, c, i * stride_h,
    j * stride_w], zero between), plus addend (an array like dst) where given: the input
    gradient of a strided, unpadded 1x1 convolution from its compact one."""
    cdef Py_ssize_t planes = dst.shape[0] * dst.shape[1], p
    cdef fc_int Ho = src.shape[2], Wo = src.shape[3], H = dst.shape[2], W = dst.shape[3]
    cdef const floating[:, :, :, ::1] av
    cdef const floating *ap = NULL
    cdef const floating *aplane
    if addend is not None:
        av = addend
        ap = &av[0, 0, 0, 0]
    if planes == 0 or H == 0 or W == 0:
        return
    cdef int nt = team_size(num_threads, planes, <double> planes * H * W)
    cdef const floating *sp = &src[0, 0, 0, 0]
    cdef floating *dp = &dst[0, 0, 0, 0]
    with nogil, parallel(num_threads=nt):
        for p in prange(planes, schedule='static'):
            aplane = NULL
            if ap != NULL:
                aplane = ap + p * H * W
            if floating is float:
                fc_scatter_strided_plane_f32(sp + p * Ho * Wo, Ho, Wo, stride_h, stride_w,
                                             aplane, H, W, dp + p * H * W)
            else:
                fc_scatter_strided_plane_f64(sp + p * Ho * Wo, Ho, Wo, stride_h, stride_w,
                                             aplane, H, W, dp + p * H * W)


cdef bint _runs_keep_units(Py_ssize_t N, Py_ssize_t nchunks, Py_ssize_t per) noexcept nogil:
    """Whether every run start chunk * N // nchunks is a multiple of per."""
    cdef Py_ssize_t chunk
    for chunk in range(nchunks):
        if (chunk * N // nchunks) % per:
            return False
    return True


cdef void _input_grad_run(const fc_conv_geom *g, const fc_conv_geom *t, bint as_forward,
                          Py_ssize_t m, const floating *dy, const char *packed,
                          const floating *res, floating *dx, char *work) noexcept nogil:
    """backward_data's kernels on m images: the forward pass of the transposed geometry t
    (as_forward) or the packed input-gradient pass of g."""
    if as_forward:
        if floating is float:
            fc_conv2d_forward_packed_batch_f32(t, m, dy, packed, NULL, res, 0, 0.0, dx, work)
        else:
            fc_conv2d_forward_packed_batch_f64(t, m, dy, packed, NULL, res, 0, 0.0, dx, work)
    else:
        if floating is float:
            fc_conv2d_backward_data_packed_batch_f32(g, m, dy, packed, NULL, res, dx, work)
        else:
            fc_conv2d_backward_data_packed_batch_f64(g, m, dy, packed, NULL, res, dx, work)


def backward_weight(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] grad_out, tuple geometry,
                    floating[:, :, :, ::1] grad_w, floating[::1] grad_b, int num_threads,
                    const floating[:, :, :, ::1] w=None, floating[:, :, :, ::1] grad_x=None,
                    const floating[:, :, :, ::1] residual=None):
    """grad_w = sum over images of d conv / d w; grad_b likewise (if not None).

    Images go in fixed runs (_weight_grad_chunks), each summed in order into its own
    partial; the partials are then added in chunk order. 1x1 convolutions of small
    maps instead split the filters over the threads, each over every image, and a
    single image splits its filters into fixed parts; so does a Winograd weight gradient
    of few tiles and many channel pairs (each part every tile of the batch: no
    accumulators per run of images, which there cost more than the products).

    With ``w`` and ``grad_x`` (and optionally ``residual``, as backward_data takes it),
    each run of images also gets its input gradient right after its weight gradient,
    while that run's grad_out is still in the core's cache (it was read back from
    memory by a separate pass: a 64 -> 128 pointwise layer on 16x16 maps at batch 64
    spends 3-5% less on its two gradients). Only where that gives backward_data's bits:
    image runs on both sides, cut at whole units of the input-gradient kernels. Returns
    whether grad_x was written (if not, call backward_data).
    """
    cdef fc_conv_geom g = make_geom(geometry)
    cdef fc_conv_geom gp, t
    cdef Py_ssize_t N = x.shape[0], n, chunk, i, blk, i0, i1, nblocks, k0, k1
    cdef Py_ssize_t nchunks = _weight_grad_chunks(&g, N, sizeof(floating))
    cdef Py_ssize_t wsize = g.K * g.C * g.R * g.S
    cdef Py_ssize_t part = wsize + g.K, P = g.Ho * g.Wo, CRS = g.C * g.R * g.S
    cdef Py_ssize_t kparts = 0
    cdef int split
    cdef int nt = team_size(num_threads, nchunks, _flops(&g, N))
    cdef size_t ws = _round64(fc_conv2d_workspace_bytes(&g, sizeof(floating)))
    cdef size_t part_bytes = _round64(part * sizeof(floating))
    cdef char *work = NULL
    cdef char *partials = NULL
    cdef char *mywork
    cdef floating *acc
    cdef floating *dw = &grad_w[0, 0, 0, 0]
    cdef floating *db = NULL
    if grad_b is not None:
        db = &grad_b[0]
    split = _weight_grad_split(&g, N, sizeof(floating))
    if split == WINOGRAD_FILTERS:
        # parts of whole blocks of filters, not runs of images
        nt = team_size(num_threads, fc_conv2d_backward_weight_filters_ok(&g, N, sizeof(floating)),
                       _flops(&g, N))
        ws = _round64(fc_conv2d_backward_weight_filters_bytes(&g, N, sizeof(floating)))
    elif split == FILTER_PARTS:
        kparts = min(<Py_ssize_t> FILTER_PARTS_MAX, g.K // FILTER_PART)
        nt = team_size(num_threads, kparts, _flops(&g, N))
        ws = 0
        for i in range(kparts):
            gp = g
            gp.K = _filter_part_start(i + 1, kparts, g.K) - _filter_part_start(i, kparts, g.K)
            ws = max(ws, _round64(fc_conv2d_workspace_bytes(&gp, sizeof(floating))))
    cdef bint fused = False, as_forward = False
    cdef char *packed = NULL
    cdef const floating *rptr = NULL
    cdef floating *dx = NULL
    cdef Py_ssize_t xs = g.C * g.H * g.W
    for i in range(4):
        if ((grad_x is not None and grad_x.shape[i] != x.shape[i])
                or (residual is not None and residual.shape[i] != x.shape[i])):
            raise ValueError("backward_weight: grad_x and residual must be shaped like x")
    if grad_x is not None and w is not None and split == IMAGE_RUNS and N >= num_threads:
        as_forward = fc_conv2d_backward_data_1x1_as_forward(&g, N, &t)
        if as_forward:
            # the forward team's image runs (not its 1x1 batch or filter-row modes)
            fused = (not fc_conv2d_1x1_batch_ok(&t, N) and _runs_keep_units(
                N, nchunks, fc_conv2d_run_images(&t, FC_CONV_FORWARD, sizeof(floating))))
            if fused:
                ws = max(ws, _round64(fc_conv2d_workspace_bytes(&t, sizeof(floating))))
        else:
            # not the stride-2 Winograd input gradient: its runs lose more to sharing
            # the core's cache with the weight gradient's than grad_out's second
            # reading costs ('strided', 32 -> 64 on 32x32 maps: 2.5% slower fused)
            fused = strcmp(fc_conv2d_path(&g, FC_CONV_BACKWARD_DATA, sizeof(floating)),
                           b"winograd-s2") != 0 and _runs_keep_units(
                N, nchunks, fc_conv2d_run_images(&g, FC_CONV_BACKWARD_DATA, sizeof(floating)))
    if fused:
        nt = team_size(num_threads, nchunks, 2.0 * _flops(&g, N))
        dx = &grad_x[0, 0, 0, 0]
        if residual is not None:
            rptr = &residual[0, 0, 0, 0]
    work = _scratch(_times(ws, nt), "conv2d_backward", f"workspace ({nt} threads)")
    try:
        if split == FILTER_PARTS:
            memset(dw, 0, wsize * sizeof(floating))
            if db != NULL:
                memset(db, 0, g.K * sizeof(floating))
            with nogil, parallel(num_threads=nt):
                mywork = work + ws * threadid()
                for i in prange(kparts, schedule='static'):
                    k0 = _filter_part_start(i, kparts, g.K)
                    k1 = _filter_part_start(i + 1, kparts, g.K)
                    gp = g
                    gp.K = k1 - k0
                    if floating is float:
                        fc_conv2d_backward_weight_batch_f32(&gp, 1, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0] + k0 * P,
                                                            dw + k0 * CRS, NULL if db == NULL else db + k0, mywork)
                    else:
                        fc_conv2d_backward_weight_batch_f64(&gp, 1, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0] + k0 * P,
                                                            dw + k0 * CRS, NULL if db == NULL else db + k0, mywork)
            return False
        if split == WINOGRAD_FILTERS:
            # Filters split over the team, every tile of the batch in each part: no
            # partials, no K x C accumulators per run.
            with nogil, parallel(num_threads=nt):
                mywork = work + ws * threadid()
                for i in prange(nt, schedule='static'):
                    if floating is float:
                        fc_conv2d_backward_weight_filters_part_f32(
                            &g, N, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0], dw, db, i, nt, mywork)
                    else:
                        fc_conv2d_backward_weight_filters_part_f64(
                            &g, N, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0], dw, db, i, nt, mywork)
            return False
        if split == POINTWISE_FILTERS:
            # Filters split over the team, every image in each part: no partials.
            with nogil, parallel(num_threads=nt):
                mywork = work + ws * threadid()
                for i in prange(nt, schedule='static'):
                    if floating is float:
                        fc_conv2d_backward_weight_1x1_part_f32(&g, N, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0],
                                                               dw, db, i, nt, mywork)
                    else:
                        fc_conv2d_backward_weight_1x1_part_f64(&g, N, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0],
                                                               dw, db, i, nt, mywork)
            return False
        partials = _scratch(_times(part_bytes, nchunks), "conv2d_backward",
                            f"partial weight gradients ({nchunks} runs)")
        if fused:
            packed = _packed_weights(&g, FC_CONV_BACKWARD_DATA, w, "conv2d_backward", N)
        with nogil, parallel(num_threads=nt):
            mywork = work + ws * threadid()
            for chunk in prange(nchunks, schedule='static'):
                acc = <floating *> (partials + part_bytes * chunk)
                memset(acc, 0, part * sizeof(floating))
                n = chunk * N // nchunks
                if floating is float:
                    fc_conv2d_backward_weight_batch_f32(&g, (chunk + 1) * N // nchunks - n,
                                                        &x[n, 0, 0, 0], &grad_out[n, 0, 0, 0],
                                                        acc, NULL if db == NULL else acc + wsize, mywork)
                else:
                    fc_conv2d_backward_weight_batch_f64(&g, (chunk + 1) * N // nchunks - n,
                                                        &x[n, 0, 0, 0], &grad_out[n, 0, 0, 0],
                                                        acc, NULL if db == NULL else acc + wsize, mywork)
                if fused:
                    _input_grad_run(&g, &t, as_forward, (chunk + 1) * N // nchunks - n,
                                    &grad_out[n, 0, 0, 0], packed,
                                    rptr + n * xs if rptr != NULL else NULL, dx + n * xs, mywork)
        # Partials added in chunk order for every element; threads split the
        # elements (blocks of REDUCE_BLOCK), which leaves each sum's order alone.
        nblocks = (part + REDUCE_BLOCK - 1) // REDUCE_BLOCK
        with nogil, parallel(num_threads=team_size(num_threads, nblocks, <double> part * nchunks)):
            for blk in prange(nblocks, schedule='static'):
                i0 = blk * REDUCE_BLOCK
                i1 = min(part, i0 + REDUCE_BLOCK)
                _sum_partials(dw, partials, part_bytes, nchunks, i0, min(i1, wsize), 0)
                if db != NULL:
                    _sum_partials(db, partials, part_bytes, nchunks, max(i0, wsize), i1, wsize)
    finally:
        give_scratch(work)
        give_scratch(partials)
        give_scratch(packed)
    return fused


def winograd_env():
    """(forced, forced F(4x4), enabled, forced stride-2 F(4x4, 2x2)): FASTCONV_WINOGRAD=always,
    FASTCONV_WINOGRAD=f4, not FASTCONV_NO_WINOGRAD and FASTCONV_WINOGRAD=s2, read by C
    (cheap enough to ask at every call)."""
    return (fc_winograd_forced(), fc_winograd4_forced(), fc_winograd_enabled(),
            fc_winograd_s2_forced())
