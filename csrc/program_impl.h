/* Type-generic body of csrc/program.c: included once per element type with T
 * (the type) and SUFFIX (f32 / f64) defined. */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_NAME(base) FC_CAT(base, SUFFIX)

/* Tile of fc_transpose_images: TA rows of x by TB of its columns. Rows of
 * x (B elements long) a multiple of 1 KB apart all fall in a few L1 sets, as
 * do rows of y (A long), so the tile is only 8 deep on such a side; else 64.
 * A 64 x 64-channel x 32 x 32 float batch to channels-last: 4-4.8 ms on two
 * threads, against 8.3 with 32 x 32 tiles and 11 in NumPy's strided copy. */
static fc_int FC_NAME(transpose_edge)(fc_int stride)
{
    return (stride * (fc_int)sizeof(T)) % 1024 == 0 ? 8 : 64;
}

void FC_NAME(fc_transpose_images)(fc_int N, fc_int A, fc_int B, const T *x, T *y, int nthreads)
{
    const fc_int TA = FC_NAME(transpose_edge)(B), TB = FC_NAME(transpose_edge)(A);
    const fc_int rows = (A + TA - 1) / TA, items = N * rows;
    const int nt = fc_team_size(nthreads, items, (double)N * (double)(A * B) * FC_ELEMENT_WORK);
    fc_int it;
    FC_TEAM_FOR(static, nt, it, items, {
        const fc_int n = it / rows, a0 = (it % rows) * TA;
        const fc_int a1 = a0 + TA < A ? a0 + TA : A;
        const T *xn = x + n * A * B;
        T *yn = y + n * A * B;
        fc_int a, b, b0;
        if (B == 3) {
            for (a = FC_NAME(fc_channels_first3)(xn, yn, A, a0, a1); a < a1; a++)
                for (b = 0; b < 3; b++)
                    yn[b * A + a] = xn[a * 3 + b];
            continue;
        }
        for (b0 = 0; b0 < B; b0 += TB) {
            const fc_int b1 = b0 + TB < B ? b0 + TB : B;
            for (b = b0; b < b1; b++)
                for (a = a0; a < a1; a++)
                    yn[b * A + a] = xn[a * B + b];
        }
    });
}

/* Every op over images [n0, n0 + N) of the buffers. */
static void FC_NAME(fc_program_images)(const fc_op *ops, int nops, void *const *bufs, fc_int n0,
                                       fc_int N, int nthreads, char *work, double *seconds)
{
    int i;
    double t0 = seconds ? fc_program_clock() : 0.0;
    for (i = 0; i < nops; i++) {
        const fc_op *op = &ops[i];
        const T *x = (const T *)bufs[op->in0] + n0 * fc_op_image_elems(op, 0);
        const T *x1 = op->in1 >= 0 ? (const T *)bufs[op->in1] + n0 * fc_op_image_elems(op, 1)
                                   : NULL;
        T *y = (T *)bufs[op->out] + n0 * fc_op_image_elems(op, 2);
        const T param = (T)op->act_param;
        switch (op->kind) {
        case FC_OP_CONV:
            if (op->pre_depthwise)
                FC_NAME(fc_depthwise_conv_forward_team)(
                    &op->dw, (const T *)op->dw_weight, (const T *)op->dw_bias, op->dw_act,
                    (T)op->dw_act_param, &op->conv, N, x, op->weight, (const T *)op->bias,
                    op->act, param, y, nthreads, work);
            else if (op->pool_after)
                FC_NAME(fc_conv2d_pool_forward_team)(&op->conv, &op->pool,
                                                     op->pool_after == FC_OP_MAX_POOL, N, x,
                                                     op->weight, (const T *)op->bias, op->act,
                                                     param, y, nthreads, work);
            else
                FC_NAME(fc_conv2d_forward_team)(&op->conv, N, x, op->weight,
                                                (const T *)op->bias, x1, op->act, param, y,
                                                nthreads, work);
            break;
        case FC_OP_DEPTHWISE:
            FC_NAME(fc_depthwise_forward_team)(&op->conv, N, x, (const T *)op->weight,
                                               (const T *)op->bias, op->act, param, y, nthreads);
            break;
        case FC_OP_MAX_POOL:
        case FC_OP_AVG_POOL:
            FC_NAME(fc_pool2d_forward_team)(&op->pool, op->kind == FC_OP_MAX_POOL,
                                            N * op->channels, x, y, nthreads);
            break;
        case FC_OP_PLANE_MEANS:
            FC_NAME(fc_plane_means_team)(N * op->channels, op->size, x, y, nthreads);
            break;
        case FC_OP_LINEAR:
            FC_NAME(fc_linear_packed)(N, op->units, op->size, x, (const T *)op->weight,
                                      (const T *)op->bias, y, nthreads);
            if (op->act != FC_ACT_NONE)
                FC_NAME(fc_activation_forward_team)(op->act, param, y, y, N * op->units,
                                                    nthreads);
            break;
        case FC_OP_ADD:
            FC_NAME(fc_add_forward_team)(x, x1, y, N * op->size, op->act, param, nthreads);
            break;
        case FC_OP_TO_NCHW:
            FC_NAME(fc_transpose_images)(N, op->size, op->channels, x, y, nthreads);
            break;
        }
        if (seconds) {
            const double t1 = fc_program_clock();
            seconds[i] += t1 - t0;
            t0 = t1;
        }
    }
}

/* Every op over the images in chunks of `chunk` (all at once when 0). */
static void FC_NAME(fc_program_chunks)(const fc_op *ops, int nops, void *const *bufs, fc_int N,
                                       fc_int chunk, int nthreads, char *work, double *seconds)
{
    fc_int n0;
    if (chunk <= 0 || chunk > N)
        chunk = N;
    for (n0 = 0; n0 < N; n0 += chunk) {
        FC_NAME(fc_program_images)(ops, nops, bufs, n0, N - n0 < chunk ? N - n0 : chunk,
                                   nthreads, work, seconds);
#ifdef _OPENMP
        if (fc_program_loops && n0 + chunk < N) {
            /* the next run of images reuses the loop slots: once nobody reads them */
#pragma omp barrier
#pragma omp single
            memset(fc_program_loops->slot, 0, (size_t)fc_program_loops->cap * sizeof(fc_team_slot));
            fc_program_loop = 0;
        }
#endif
    }
}

/* The walk of thread tid (arg: an fc_program_walk, program.c). */
static void FC_NAME(fc_program_walk_job)(void *arg, int tid)
{
    const fc_program_walk *w = (const fc_program_walk *)arg;
    fc_in_program_team = 1;
    fc_program_tid = tid;
    fc_program_pooled = w->pooled;
    fc_program_loops = w->loops;
    fc_program_loop = 0;
    FC_NAME(fc_program_chunks)(w->ops, w->nops, w->bufs, w->N, w->chunk, w->nthreads, w->work,
                               tid == 0 ? w->seconds : NULL);
    fc_program_loops = NULL;
    fc_in_program_team = 0;
    fc_program_tid = 0;
    fc_program_pooled = 0;
}

/* With more than one thread the whole program runs inside one team: each
 * thread walks the op list and the drivers share each op's loop out among
 * them (FC_TEAM_FOR, their slots at the front of work), a thread going on to
 * the next op once every part of this one is finished. A run in one piece
 * goes to the program pool (program_pool.h: the caller does not wait for
 * threads that are slow to wake); a run in chunks of images, whose seams are
 * barriers every thread must reach, to an OpenMP team. The first thread
 * keeps the timings (it leaves an op only once the op is done). */
void FC_NAME(fc_program_run)(const fc_op *ops, int nops, void *const *bufs, fc_int N,
                             fc_int chunk, int nthreads, char *work, double *seconds)
{
#ifdef _OPENMP
    if (fc_program_in_team(nthreads)) {
        const size_t slot_bytes = fc_program_slot_bytes(nops, nthreads);
        fc_team_loops loops;
        fc_program_walk walk;
        loops.slot = (fc_team_slot *)work;
        loops.cap = (int)(slot_bytes / sizeof(fc_team_slot));
        loops.threads = nthreads;
        memset(work, 0, slot_bytes);
        work += slot_bytes;
        walk.ops = ops;
        walk.bufs = bufs;
        walk.N = N;
        walk.chunk = chunk;
        walk.nops = nops;
        walk.nthreads = nthreads;
        walk.work = work;
        walk.seconds = seconds;
        walk.loops = &loops;
        walk.pooled = 1;
        if ((chunk <= 0 || chunk >= N) &&
            fc_pool_run(nthreads, FC_NAME(fc_program_walk_job), &walk))
            return;
        walk.pooled = 0;
#pragma omp parallel num_threads(nthreads)
        FC_NAME(fc_program_walk_job)(&walk, omp_get_thread_num());
        return;
    }
#endif
    FC_NAME(fc_program_chunks)(ops, nops, bufs, N, chunk, nthreads, work, seconds);
}

#undef FC_CAT_
#undef FC_CAT
#undef FC_NAME
