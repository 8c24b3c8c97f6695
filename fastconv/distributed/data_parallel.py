"""Synchronous data parallelism: every rank holds the whole model, works on its part of each
global batch, and the gradients are averaged over ranks before the (identical) optimiser step,
so all ranks keep bit-identical weights."""
import math

import numpy as np

from . import comm as _comm

__all__ = ["DataParallel"]


def _list_of_arrays(arrays, what):
    if isinstance(arrays, np.ndarray) or not isinstance(arrays, (list, tuple)):
        raise TypeError(f"DataParallel: {what} must be a list of numpy arrays, got "
                        f"{type(arrays).__name__}")
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"DataParallel: {what}[{i}] must be a numpy.ndarray, got "
                            f"{type(a).__name__} {a!r:.60}")
    return list(arrays)


def _count(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"DataParallel: {what} must be an integer, got {v!r}")
    return int(v)


class _Bucket:
    """A run of gradient arrays of one dtype fused into one buffer for one allreduce."""

    __slots__ = ("arrays", "nbytes", "buffer", "request")

    def __init__(self):
        self.arrays, self.nbytes, self.buffer, self.request = [], 0, None, None


class DataParallel:
    """Data-parallel training over the ranks of an MPI job (one process per rank).

    ``DataParallel(bucket_mb=4.0, sync_batchnorm=False)``; give it to
    ``Model.compile(..., distribute=DataParallel())`` and start the script with
    ``mpirun -n N python script.py``.  Without an MPI launcher it is a no-op (one rank).

    Semantics: each global batch of ``batch_size`` samples (drawn from the same seeded
    permutation on every rank) is split into contiguous parts, one per rank; each rank
    back-propagates the mean loss of its part, and the gradients are combined so that the
    update is exactly the one for the mean loss of the global batch.  Weights, buffers and
    optimiser state start from rank 0's values.  Batch-norm statistics are computed per rank
    (each rank normalises with its part of the batch; ``sync_batchnorm=True``, statistics
    over the global batch, is refused with NotImplementedError for now).

    The trainer calls, in this order:

    * ``setup(params, buffers, optimizer_state_arrays)`` once at the start of ``fit``: every
      array is overwritten in place with rank 0's values.  Three lists of ndarrays, in an
      order that is the same on every rank (layer order; an empty list is fine, e.g. Adam's
      slots before its first step).
    * ``rank``, ``size``, ``is_main``: this process's rank, the number of ranks, rank == 0
      (only the main rank prints progress, runs callbacks that write files, saves).
    * ``seed_offset``: an int to mix into per-rank random generators (dropout), so the
      masks differ between ranks but are reproducible.
    * per step: ``lo_r, hi_r = shard(lo, hi)``: this rank's part of the global batch
      positions ``[lo, hi)`` (split evenly, the remainder to the first ranks; may be empty,
      ``lo_r == hi_r``, on a tiny last batch).
    * ``begin_step(local_n, global_n)`` before the backward pass (``local_n = hi_r - lo_r``,
      ``global_n = hi - lo``).
    * ``grads_ready(arrays)`` during the backward pass, once per layer with parameters, in
      reverse layer order, with that layer's final gradient arrays (gradient of the local
      *mean* loss).  Call it on every rank for the same layers in the same order, also on a
      rank whose part is empty (it may skip forward/backward and pass the gradient arrays
      as they are: with ``local_n == 0`` their contents are ignored and count as zero).
      The arrays must not be changed until ``finish_gradients`` returns.
    * ``finish_gradients()`` after the backward pass, before the optimiser step: waits for
      the reductions and writes the global-batch gradients into the same arrays in place.
    * ``reduce_sums(values)``: the sum over ranks of a small float vector, e.g.
      ``[loss * n, correct, n]`` for the epoch's metrics, validation and ``evaluate``.
    * ``install_abort_handler()``: once at the start, so that an exception, Ctrl-C or
      SIGTERM on one rank ends the whole job (exit status 1) instead of a hang.

    Gradients are copied, as they arrive, into fused buffers of about ``bucket_mb`` MB
    (one dtype each); a full bucket starts a non-blocking allreduce at once, so the
    communication of the last layers overlaps the backward pass of the first ones.
    """

    def __init__(self, bucket_mb=4.0, sync_batchnorm=False):
        if isinstance(bucket_mb, bool) or not isinstance(
                bucket_mb, (int, float, np.integer, np.floating)):
            raise TypeError(f"DataParallel: bucket_mb must be a number, got {bucket_mb!r}")
        if not math.isfinite(float(bucket_mb)) or float(bucket_mb) <= 0.0:
            raise ValueError(f"DataParallel: bucket_mb must be a finite number > 0, got "
                             f"{bucket_mb!r}")
        if not isinstance(sync_batchnorm, (bool, np.bool_)):
            raise TypeError(f"DataParallel: sync_batchnorm must be True or False, got "
                            f"{sync_batchnorm!r}")
        if sync_batchnorm:
            # the batch-norm layers do not call sync_batch_stats yet: refuse rather than
            # silently train with per-rank statistics
            raise NotImplementedError("DataParallel: sync_batchnorm=True is not supported yet; "
                                      "batch-norm statistics are computed per rank")
        self.bucket_mb = float(bucket_mb)
        self.sync_batchnorm = bool(sync_batchnorm)
        self._bucket_bytes = max(1, int(self.bucket_mb * 2 ** 20))
        self._scale = 1.0
        self._local_n = None
        self._open = None          # the bucket being filled
        self._sent = []            # buckets whose allreduce is in flight
        self._buffers = []         # fused buffers reused from step to step, by bucket index

    def __repr__(self):
        return (f"DataParallel(bucket_mb={self.bucket_mb:g}, "
                f"sync_batchnorm={self.sync_batchnorm})")

    # ------------------------------------------------------------ the process group
    @property
    def rank(self):
        return _comm.rank()

    @property
    def size(self):
        return _comm.size()

    @property
    def is_main(self):
        return _comm.rank() == 0

    @property
    def seed_offset(self):
        return _comm.rank()

    def install_abort_handler(self):
        _comm.install_abort_handler()

    def _parallel(self):
        return _comm.size() > 1

    # ------------------------------------------------------------ start of fit
    def setup(self, params, buffers, optimizer_state_arrays):
        """Overwrite every array in place with rank 0's (weights, buffers, optimiser slots)."""
        groups = (("params", params), ("buffers", buffers),
                  ("optimizer_state_arrays", optimizer_state_arrays))
        checked = [(what, _list_of_arrays(arrays, what)) for what, arrays in groups]
        for what, arrays in checked:
            for i, a in enumerate(arrays):
                if not a.flags.writeable:
                    raise ValueError(f"DataParallel.setup: {what}[{i}] is read-only")
        if not self._parallel():
            return
        layout = ";".join(f"{what}:" + ",".join(f"{a.dtype.str}{a.shape}" for a in arrays)
                          for what, arrays in checked)
        _comm.check_same_on_all_ranks(layout, "the list of weights, buffers and optimizer "
                                              "state arrays")
        for _, arrays in checked:
            for a in arrays:
                _comm.broadcast(a, root=0)

    # ------------------------------------------------------------ per step
    def shard(self, lo, hi):
        """This rank's contiguous part ``(lo_r, hi_r)`` of the global batch ``[lo, hi)``."""
        lo, hi = _count(lo, "lo"), _count(hi, "hi")
        if lo < 0 or hi < lo:
            raise ValueError(f"DataParallel.shard: need 0 <= lo <= hi, got lo={lo}, hi={hi}")
        n, r = _comm.size(), _comm.rank()
        base, extra = divmod(hi - lo, n)
        start = lo + r * base + min(r, extra)
        return start, start + base + (1 if r < extra else 0)

    def begin_step(self, local_n, global_n):
        """Start a step in which this rank back-propagates ``local_n`` of the ``global_n``
        samples of the global batch."""
        local_n, global_n = _count(local_n, "local_n"), _count(global_n, "global_n")
        if global_n <= 0 or not 0 <= local_n <= global_n:
            raise ValueError(f"DataParallel.begin_step: need 0 <= local_n <= global_n and "
                             f"global_n > 0, got local_n={local_n}, global_n={global_n}")
        if self._open is not None or self._sent:
            raise RuntimeError("DataParallel.begin_step: the previous step's gradients were "
                               "not collected; call finish_gradients() after each backward")
        # The local gradient is of the local mean loss; scaling by local_n/global_n before
        # the sum makes it the gradient of the global mean (and adds terms that do not
        # depend on the batch, such as weight penalties, exactly once).
        self._scale = local_n / global_n
        self._local_n = local_n
        self._n_buckets = 0

    def grads_ready(self, arrays):
        """One layer's final gradients: queue them, starting the allreduce of full buckets."""
        if self._local_n is None:
            raise RuntimeError("DataParallel.grads_ready: call begin_step(local_n, global_n) "
                               "before the backward pass")
        arrays = _list_of_arrays(arrays, "grads_ready arrays")
        if not self._parallel():
            return
        for a in arrays:
            if a.dtype.kind != "f":
                raise TypeError(f"DataParallel.grads_ready: gradients must be floating point, "
                                f"got dtype {a.dtype}")
            if self._open is not None and self._open.arrays[0].dtype != a.dtype:
                self._flush()
            if self._open is None:
                self._open = _Bucket()
            self._open.arrays.append(a)
            self._open.nbytes += a.nbytes
            if self._open.nbytes >= self._bucket_bytes:
                self._flush()
        self._progress()

    def _flush(self):
        bucket, self._open = self._open, None
        if bucket is None:
            return
        dtype = bucket.arrays[0].dtype
        total = sum(a.size for a in bucket.arrays)
        k = self._n_buckets
        self._n_buckets += 1
        if k < len(self._buffers) and self._buffers[k].dtype == dtype \
                and self._buffers[k].size == total:
            buf = self._buffers[k]
        else:
            buf = np.empty(total, dtype=dtype)
            if k < len(self._buffers):
                self._buffers[k] = buf
            else:
                self._buffers.append(buf)
        if self._local_n == 0:
            buf.fill(0)  # an empty part: whatever is in the arrays does not count
        else:
            o = 0
            for a in bucket.arrays:
                np.multiply(a.reshape(-1), dtype.type(self._scale), out=buf[o:o + a.size])
                o += a.size
        MPI = _comm._mpi()
        bucket.buffer = buf
        bucket.request = _comm._comm().Iallreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        self._sent.append(bucket)

    def _progress(self):
        # Most MPI libraries advance a non-blocking collective only inside MPI calls; a cheap
        # test after each layer keeps the transfers moving during the backward pass.
        if self._sent:
            _comm._mpi().Request.Testall([b.request for b in self._sent])

    def finish_gradients(self):
        """Wait for every bucket and write the global-batch gradients back in place."""
        if self._local_n is None:
            raise RuntimeError("DataParallel.finish_gradients: no step in progress; call "
                               "begin_step() and grads_ready() first")
        self._local_n = None
        if not self._parallel():
            return
        self._flush()
        sent, self._sent = self._sent, []
        if not sent:
            return
        _comm._mpi().Request.Waitall([b.request for b in sent])
        for b in sent:
            o = 0
            for a in b.arrays:
                a[...] = b.buffer[o:o + a.size].reshape(a.shape)
                o += a.size
            b.request = b.buffer = None

    # ------------------------------------------------------------ metrics and statistics
    def reduce_sums(self, values):
        """Element-wise sum over ranks of a small vector (returned as float64)."""
        try:
            v = np.array(values, dtype=np.float64, copy=True).reshape(-1)
        except (TypeError, ValueError):
            raise TypeError(f"DataParallel.reduce_sums: values must be a sequence of numbers, "
                            f"got {values!r:.80}") from None
        if self._parallel():
            MPI = _comm._mpi()
            _comm._comm().Allreduce(MPI.IN_PLACE, v, op=MPI.SUM)
        return v

    def sync_batch_stats(self, arrays):
        """Sum batch-norm partial statistics (e.g. per-channel count, sum, sum of squares)
        over ranks, in place; a no-op unless ``sync_batchnorm`` and more than one rank.
        Every rank must call it at the same point of the forward pass."""
        arrays = _list_of_arrays(arrays, "sync_batch_stats arrays")
        if not (self.sync_batchnorm and self._parallel()):
            return arrays
        MPI = _comm._mpi()
        c = _comm._comm()
        for a in arrays:
            if a.flags.c_contiguous and a.flags.writeable:
                c.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
            else:
                tmp = np.ascontiguousarray(a)
                c.Allreduce(MPI.IN_PLACE, tmp, op=MPI.SUM)
                a[...] = tmp
        return arrays
