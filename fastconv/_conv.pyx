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
from fastconv._runtime cimport take_scratch, give_scratch, team_size, depthwise_work

# Images are summed into this many partial weight gradients (fewer on the F(4x4)
# Winograd path: _weight_grad_chunks), each over a fixed run of images, then the
# partials are added in order: the result depends on the batch size and the
# geometry only, never on the thread count.
cdef enum:
    WEIGHT_GRAD_CHUNKS = 8
    WINOGRAD4_RUN_TILES = 512
    REDUCE_BLOCK = 4096
    IMAGE_RUNS_PER_THREAD = 4
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


cdef size_t _times(size_t a, size_t b) nogil:
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


def forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w, const floating[::1] bias,
            tuple geometry, int activation, double act_param,
            floating[:, :, :, ::1] y, int num_threads):
    """y[n] = act(conv(x[n], w) + bias) for every image n."""
    cdef fc_conv_geom g = make_geom(geometry)
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
    '1x1-rows' or 'gemm'; op 2 (backward-weight): 'winograd', 'winograd-f4' or 'other'."""
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
    if (fc_conv2d_backward_data_1x1_as_forward(&g, N, &t)
            or (N < num_threads and fc_conv2d_backward_data_as_forward(&g, sizeof(floating), &t))):
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
    1.70 -> 1.55 ms)."""
    cdef Py_ssize_t runs = min(N, WEIGHT_GRAD_CHUNKS), tiles
    if strcmp(fc_conv2d_path(g, FC_CONV_BACKWARD_WEIGHT, itemsize), b"winograd-f4") == 0:
        tiles = N * ((g.Ho + 3) // 4) * ((g.Wo + 3) // 4)
        runs = min(runs, max(2, tiles // WINOGRAD4_RUN_TILES))
    return max(1, min(runs, N))


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


def backward_weight(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] grad_out, tuple geometry,
                    floating[:, :, :, ::1] grad_w, floating[::1] grad_b, int num_threads):
    """grad_w = sum over images of d conv / d w; grad_b likewise (if not None).

    Images go in fixed runs (_weight_grad_chunks), each summed in order into its own
    partial; the partials are then added in chunk order. 1x1 convolutions of small
    maps instead split the filters over the threads, each over every image, and a
    single image splits its filters into fixed parts.
    """
    cdef fc_conv_geom g = make_geom(geometry)
    cdef fc_conv_geom gp
    cdef Py_ssize_t N = x.shape[0], n, chunk, i, blk, i0, i1, nblocks, k0, k1
    cdef Py_ssize_t nchunks = _weight_grad_chunks(&g, N, sizeof(floating))
    cdef Py_ssize_t wsize = g.K * g.C * g.R * g.S
    cdef Py_ssize_t part = wsize + g.K, P = g.Ho * g.Wo, CRS = g.C * g.R * g.S
    cdef Py_ssize_t kparts = 0
    cdef int split = IMAGE_RUNS
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
    if N == 1 and g.K >= 2 * FILTER_PART:
        split = FILTER_PARTS
        kparts = min(<Py_ssize_t> FILTER_PARTS_MAX, g.K // FILTER_PART)
        nt = team_size(num_threads, kparts, _flops(&g, N))
        ws = 0
        for i in range(kparts):
            gp = g
            gp.K = _filter_part_start(i + 1, kparts, g.K) - _filter_part_start(i, kparts, g.K)
            ws = max(ws, _round64(fc_conv2d_workspace_bytes(&gp, sizeof(floating))))
    elif fc_conv2d_backward_weight_1x1_ok(&g, N):
        split = POINTWISE_FILTERS
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
            return
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
            return
        partials = _scratch(_times(part_bytes, nchunks), "conv2d_backward",
                            f"partial weight gradients ({nchunks} runs)")
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


# ---------------------------------------------------------------- depthwise (groups == C)

def depthwise_small_path(tuple geometry, int pass_):
    """Whether pass_ (0 forward, 1 backward-data, 2 backward-weight) of a depthwise conv
    fits the channel-interleaved small-plane kernels (csrc/conv_depthwise_small.c); the
    row kernels (depthwise_rows_path) take precedence where both fit."""
    cdef fc_conv_geom g = make_geom(geometry)
    return bool(fc_depthwise_small_fits(&g, pass_))


def depthwise_flat_path(tuple geometry, int pass_, itemsize=4):
    """Whether pass_ (0 forward, 1 backward-data) of a depthwise conv runs the AVX-512
    flat-plane kernels (csrc/conv_depthwise_flat.c) for elements of itemsize bytes;
    they take precedence over the row and small-plane kernels."""
    cdef fc_conv_geom g = make_geom(geometry)
    return bool(fc_depthwise_flat_fits(&g, pass_, itemsize))


def depthwise_rows_path(tuple geometry, int pass_):
    """Whether pass_ (0 forward, 1 backward-data, 2 backward-weight) of a depthwise conv
    runs the row-vectorised kernels (csrc/conv_depthwise_rows.c); they take precedence."""
    cdef fc_conv_geom g = make_geom(geometry)
    return bool(fc_depthwise_rows_fits(&g, pass_))


def depthwise_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                      const floating[::1] bias, tuple geometry, int activation, double act_param,
                      floating[:, :, :, ::1] y, int num_threads):
    """y[n, k] = act(conv(x[n, k // mult], w[k, 0]) + bias[k]) (csrc/forward_team.c)."""
    cdef fc_conv_geom g = make_geom(geometry)
    cdef const floating *bptr = NULL
    if bias is not None:
        bptr = &bias[0]
    with nogil:
        if floating is float:
            fc_depthwise_forward_team_f32(&g, x.shape[0], &x[0, 0, 0, 0], &w[0, 0, 0, 0], bptr,
                                          activation, <float> act_param, &y[0, 0, 0, 0],
                                          num_threads)
        else:
            fc_depthwise_forward_team_f64(&g, x.shape[0], &x[0, 0, 0, 0], &w[0, 0, 0, 0], bptr,
                                          activation, act_param, &y[0, 0, 0, 0], num_threads)


def depthwise_backward_data(const floating[:, :, :, ::1] grad_out, const floating[:, :, :, ::1] w,
                            tuple geometry, floating[:, :, :, ::1] grad_x, int num_threads):
    """grad_x[n, c] from the mult output planes of channel c (csrc/forward_team.c: the
    forward's kernel choice and team rule)."""
    cdef fc_conv_geom g = make_geom(geometry)
    with nogil:
        if floating is float:
            fc_depthwise_backward_data_team_f32(&g, grad_out.shape[0], &grad_out[0, 0, 0, 0],
                                                &w[0, 0, 0, 0], &grad_x[0, 0, 0, 0], num_threads)
        else:
            fc_depthwise_backward_data_team_f64(&g, grad_out.shape[0], &grad_out[0, 0, 0, 0],
                                                &w[0, 0, 0, 0], &grad_x[0, 0, 0, 0], num_threads)


def depthwise_backward_weight(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] grad_out,
                              tuple geometry, floating[:, :, :, ::1] grad_w, floating[::1] grad_b,
                              int num_threads):
    """grad_w, grad_b of a depthwise conv. Work items are (fixed run of images, filter);
    each sums its run in order into its own partial, and the partials of a filter are
    added in run order: bitwise the same for any thread count."""
    cdef fc_conv_geom g = make_geom(geometry)
    cdef Py_ssize_t N = x.shape[0], K = g.K, mult = g.K // g.C, RS = g.R * g.S
    cdef Py_ssize_t nchunks = min(N, WEIGHT_GRAD_CHUNKS), item, chunk, k, n0, i
    cdef Py_ssize_t part = RS + 1
    cdef Py_ssize_t nblk = fc_depthwise_small_blocks(&g)
    cdef bint flat = fc_depthwise_flat_fits(&g, 2, sizeof(floating))
    cdef bint rows = fc_depthwise_rows_fits(&g, 2) and not flat
    cdef bint small = fc_depthwise_small_fits(&g, 2) and not rows and not flat
    cdef Py_ssize_t fblk = (K + 15) // 16
    cdef int nt = team_size(num_threads, nchunks * (fblk if flat else nblk if small else K),
                            depthwise_work(&g, N))
    cdef floating total
    cdef floating *acc
    cdef floating *dw = &grad_w[0, 0, 0, 0]
    cdef floating *db = NULL
    if grad_b is not None:
        db = &grad_b[0]
    cdef floating *partials = <floating *> _scratch(_times(sizeof(floating), nchunks * K * part),
                                                    "conv2d_backward", "partial weight gradients")
    try:
        with nogil:
            # Small planes: items (image run, 8-channel block), each writing the
            # partials of its 8 filters; the same run-order reduction follows.
            for item in prange(nchunks * nblk if small else 0, schedule='static', num_threads=nt):
                chunk = item // nblk
                n0 = chunk * N // nchunks
                acc = partials + (chunk * K + (item % nblk) * 8) * part
                if floating is float:
                    fc_depthwise_small_backward_weight_f32(
                        &g, (chunk + 1) * N // nchunks - n0, item % nblk, &x[n0, 0, 0, 0],
                        &grad_out[n0, 0, 0, 0], part, acc)
                else:
                    fc_depthwise_small_backward_weight_f64(
                        &g, (chunk + 1) * N // nchunks - n0, item % nblk, &x[n0, 0, 0, 0],
                        &grad_out[n0, 0, 0, 0], part, acc)
            # AVX-512, stride-1 'same' planes: items (image run, 16-channel block),
            # each writing the partials of its filters; the same reduction follows.
            for item in prange(nchunks * fblk if flat else 0, schedule='static', num_threads=nt):
                chunk = item // fblk
                k = (item % fblk) * 16
                n0 = chunk * N // nchunks
                if floating is float:
                    fc_depthwise_flat_backward_weight_f32(
                        &g, (chunk + 1) * N // nchunks - n0, k, min(K, k + 16), &x[n0, 0, 0, 0],
                        &grad_out[n0, 0, 0, 0], part, partials + (chunk * K + k) * part)
                else:
                    fc_depthwise_flat_backward_weight_f64(
                        &g, (chunk + 1) * N // nchunks - n0, k, min(K, k + 16), &x[n0, 0, 0, 0],
                        &grad_out[n0, 0, 0, 0], part, partials + (chunk * K + k) * part)
            # Rows at least one vector wide: items (image run, filter) as below,
            # each writing its filter's partial (taps, dy sum) vectorised along rows.
            for item in prange(nchunks * K if rows else 0, schedule='static', num_threads=nt):
                chunk = item // K
                k = item % K
                n0 = chunk * N // nchunks
                if floating is float:
                    fc_depthwise_rows_backward_weight_f32(
                        &g, (chunk + 1) * N // nchunks - n0, &x[n0, k, 0, 0], g.C * g.H * g.W,
                        &grad_out[n0, k, 0, 0], K * g.Ho * g.Wo, partials + item * part)
                else:
                    fc_depthwise_rows_backward_weight_f64(
                        &g, (chunk + 1) * N // nchunks - n0, &x[n0, k, 0, 0], g.C * g.H * g.W,
                        &grad_out[n0, k, 0, 0], K * g.Ho * g.Wo, partials + item * part)
            for item in prange(0 if small or rows or flat else nchunks * K, schedule='static',
                               num_threads=nt):
                chunk = item // K
                k = item % K
                acc = partials + item * part
                memset(acc, 0, part * sizeof(floating))
                n0 = chunk * N // nchunks
                if floating is float:
                    fc_depthwise_backward_weight_plane_f32(
                        &g, (chunk + 1) * N // nchunks - n0, &x[n0, k // mult, 0, 0],
                        g.C * g.H * g.W, &grad_out[n0, k, 0, 0], K * g.Ho * g.Wo, acc, acc + RS)
                else:
                    fc_depthwise_backward_weight_plane_f64(
                        &g, (chunk + 1) * N // nchunks - n0, &x[n0, k // mult, 0, 0],
                        g.C * g.H * g.W, &grad_out[n0, k, 0, 0], K * g.Ho * g.Wo, acc, acc + RS)
            for k in range(K):
                for i in range(part):
                    total = 0
                    for chunk in range(nchunks):
                        total = total + partials[(chunk * K + k) * part + i]
                    if i < RS:
                        dw[k * RS + i] = total
                    elif db != NULL:
                        db[k] = total
    finally:
        give_scratch(partials)


def winograd_env():
    """(forced, forced F(4x4), enabled, forced stride-2 F(4x4, 2x2)): FASTCONV_WINOGRAD=always,
    FASTCONV_WINOGRAD=f4, not FASTCONV_NO_WINOGRAD and FASTCONV_WINOGRAD=s2, read by C
    (cheap enough to ask at every call)."""
    return (fc_winograd_forced(), fc_winograd4_forced(), fc_winograd_enabled(),
            fc_winograd_s2_forced())
