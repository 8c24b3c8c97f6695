/* Type-generic body of csrc/program.c: included once per element type with T
 * (the type) and SUFFIX (f32 / f64) defined. */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_NAME(base) FC_CAT(base, SUFFIX)

/* y (N, C, HW) = x (N, HW, C): the model input's layout change, one image per
 * thread at a time (each output plane written contiguously). */
static void FC_NAME(fc_to_nchw_team)(fc_int N, fc_int HW, fc_int C, const T *x, T *y,
                                     int nthreads)
{
    const int nt = fc_team_size(nthreads, N, (double)N * (double)(HW * C) * FC_ELEMENT_WORK);
    fc_int n;
    (void)nt; /* unused in serial builds */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (n = 0; n < N; n++) {
        const T *xn = x + n * HW * C;
        T *yn = y + n * HW * C;
        fc_int c, p;
        for (c = 0; c < C; c++)
            for (p = 0; p < HW; p++)
                yn[c * HW + p] = xn[p * C + c];
    }
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
            if (op->pool_after)
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
            FC_NAME(fc_to_nchw_team)(N, op->size, op->channels, x, y, nthreads);
            break;
        }
        if (seconds) {
            const double t1 = fc_program_clock();
            seconds[i] += t1 - t0;
            t0 = t1;
        }
    }
}

void FC_NAME(fc_program_run)(const fc_op *ops, int nops, void *const *bufs, fc_int N,
                             fc_int chunk, int nthreads, char *work, double *seconds)
{
    fc_int n0;
    if (chunk <= 0 || chunk > N)
        chunk = N;
    for (n0 = 0; n0 < N; n0 += chunk)
        FC_NAME(fc_program_images)(ops, nops, bufs, n0, N - n0 < chunk ? N - n0 : chunk,
                                   nthreads, work, seconds);
}

#undef FC_CAT_
#undef FC_CAT
#undef FC_NAME
