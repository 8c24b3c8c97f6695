"""The process group: MPI's ``COMM_WORLD`` when the job was started by an MPI launcher, a
single process otherwise.

mpi4py is imported only when the launcher's environment variables say this process is one
rank of an MPI job, so fastconv installed without the ``mpi`` extra never needs it, and a
plain ``python`` run never pays for MPI start-up.
"""
import hashlib
import os
import signal
import sys
import threading
import traceback

import numpy as np

__all__ = ["init", "rank", "size", "is_main", "barrier", "allreduce", "broadcast",
           "launched_under_mpi", "install_abort_handler"]

# Set by Open MPI (OMPI_*), PMIx launchers such as prterun/srun (PMIX_RANK), MPICH's and
# Intel MPI's Hydra (PMI_SIZE / PMI_RANK) and MVAPICH (MV2_*).
_LAUNCH_VARS = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK",
                "MV2_COMM_WORLD_SIZE")

_OPS = ("sum", "mean")

_state = {"initialized": False, "comm": None, "MPI": None}
_lock = threading.Lock()


def launched_under_mpi():
    """True when an MPI launcher (mpirun, mpiexec, srun) started this process."""
    return any(os.environ.get(v) for v in _LAUNCH_VARS)


def init():
    """Join the MPI job if this process is one of its ranks; returns the number of processes.

    Idempotent.  Without an MPI launcher this is a no-op (one process, rank 0) and mpi4py is
    not imported.  Under a launcher mpi4py is required (``pip install fastconv[mpi]``).
    """
    if _state["initialized"]:
        return size()
    with _lock:
        if not _state["initialized"]:
            if launched_under_mpi():
                try:
                    from mpi4py import MPI
                except ImportError as e:
                    raise RuntimeError(
                        "this process was started by an MPI launcher but mpi4py cannot be "
                        f"imported ({e}); install it with: pip install 'fastconv[mpi]'") from e
                _state["MPI"] = MPI
                _state["comm"] = MPI.COMM_WORLD
            _state["initialized"] = True
    return size()


def _comm():
    if not _state["initialized"]:
        init()
    return _state["comm"]


def _mpi():
    _comm()
    return _state["MPI"]


def rank():
    """This process's rank, 0 .. size() - 1 (0 without MPI)."""
    c = _comm()
    return 0 if c is None else c.Get_rank()


def size():
    """The number of processes in the job (1 without MPI)."""
    c = _comm()
    return 1 if c is None else c.Get_size()


def is_main():
    """True on rank 0, the process that prints, logs and saves."""
    return rank() == 0


def barrier():
    """Wait until every rank has reached this call (returns at once in one process)."""
    c = _comm()
    if c is not None and c.Get_size() > 1:
        c.Barrier()


def _check_array(array, owner):
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{owner}: array must be a numpy.ndarray, got {type(array).__name__} "
                        f"{array!r:.80}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: array must have a boolean, integer or floating dtype, got "
                        f"{array.dtype}")


def allreduce(array, op="sum"):
    """The element-wise sum (``op='sum'``) or mean (``op='mean'``) of ``array`` over all
    ranks, as a new array; ``array`` itself is not changed.  Every rank must pass an array
    of the same shape and dtype.  Booleans are summed as int64; the mean of an integer or
    boolean array is float64."""
    _check_array(array, "allreduce")
    if not isinstance(op, str) or op not in _OPS:
        raise ValueError(f"allreduce: op must be one of {_OPS}, got {op!r}")
    out = np.array(array, dtype=np.int64 if array.dtype == np.bool_ else array.dtype,
                   order="C", copy=True)
    c = _comm()
    n = 1 if c is None else c.Get_size()
    if n > 1:
        c.Allreduce(_mpi().IN_PLACE, out, op=_mpi().SUM)
    if op == "mean":
        if out.dtype.kind != "f":
            out = out.astype(np.float64)
        out /= n
    return out


def broadcast(array, root=0):
    """Overwrite ``array`` in place on every rank with rank ``root``'s values; returns it.
    ``array`` must be writable and have the same shape and dtype on every rank."""
    _check_array(array, "broadcast")
    if not array.flags.writeable:
        raise ValueError("broadcast: array must be writable (it is overwritten in place)")
    n = size()
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or \
            not 0 <= root < n:
        raise ValueError(f"broadcast: root must be an integer rank in [0, {n}), got {root!r}")
    if n == 1:
        return array
    c = _comm()
    if array.flags.c_contiguous:
        c.Bcast(array, root=int(root))
    else:  # MPI needs one contiguous buffer
        tmp = np.ascontiguousarray(array)
        c.Bcast(tmp, root=int(root))
        array[...] = tmp
    return array


def check_same_on_all_ranks(text, what):
    """Raise ValueError on every rank unless ``text`` is identical on all of them (a cheap
    guard before collectives whose buffers must agree: a mismatch would otherwise truncate,
    corrupt or hang)."""
    c = _comm()
    if c is None or c.Get_size() == 1:
        return
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    digests = c.allgather(digest)
    if len(set(digests)) != 1:
        bad = [r for r, d in enumerate(digests) if d != digests[0]]
        raise ValueError(f"{what} differs between ranks (rank 0 and rank(s) {bad}); every "
                         "rank must build the same model and optimizer")


def broadcast_text(text, root=0):
    """``text`` from rank ``root`` on every rank (a file name, a short message)."""
    c = _comm()
    if c is None or c.Get_size() == 1:
        return text
    return c.bcast(None if c.Get_rank() != root else str(text), root=root)


_abort_installed = []


def _abort(why):
    """Print why and end the whole job: a rank that stops alone would leave the others
    waiting for it in a collective forever."""
    try:
        sys.stderr.write(f"fastconv.distributed: rank {rank()} of {size()}: {why}; "
                         "aborting the MPI job\n")
        sys.stderr.flush()
    finally:
        c = _comm()
        if c is not None:
            c.Abort(1)
        os._exit(1)


def install_abort_handler():
    """Make an uncaught exception (in any thread), Ctrl-C or SIGTERM on any rank end the
    whole MPI job with exit status 1 (``MPI_Abort``) instead of leaving the other ranks
    blocked.  Idempotent; does nothing in a single process.  It also replaces the SIGINT
    handler, so Keras-style "finish the batch, then stop" on Ctrl-C is not used: ranks
    cannot agree on where to stop without another collective per step."""
    c = _comm()
    if c is None or c.Get_size() == 1 or _abort_installed:
        return
    _abort_installed.append(True)
    previous_hook = sys.excepthook

    def excepthook(kind, value, tb):
        try:
            previous_hook(kind, value, tb)
        finally:
            _abort(f"uncaught {kind.__name__}")

    def thread_hook(args):
        traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback)
        _abort(f"uncaught {args.exc_type.__name__} in thread {args.thread.name!r}")

    sys.excepthook = excepthook
    threading.excepthook = thread_hook
    if threading.current_thread() is threading.main_thread():
        def on_signal(signum, frame):
            _abort(f"received {signal.Signals(signum).name}")
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                signal.signal(sig, on_signal)
            except (ValueError, OSError):  # pragma: no cover - exotic embedding
                pass
