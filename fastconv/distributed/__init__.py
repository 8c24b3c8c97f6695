"""Data-parallel training over MPI ranks (optional: ``pip install 'fastconv[mpi]'``).

    mpirun -n 2 python -m fastconv train --model lenet5      # the CLI picks DataParallel

In a script::

    from fastconv import distributed
    distributed.init()                       # no-op without an MPI launcher
    model.compile(..., distribute=distributed.DataParallel())
    if distributed.is_main():
        model.save("model.fcm")

``init()``, ``rank()``, ``size()``, ``is_main()``, ``barrier()``, ``allreduce(array, op)``
and ``broadcast(array, root)`` work the same in a plain single process (size 1, rank 0),
where mpi4py is never imported.  See docs/distributed.md.
"""
from .comm import (allreduce, barrier, broadcast, init, install_abort_handler, is_main,
                   launched_under_mpi, rank, size)
from .data_parallel import DataParallel

__all__ = ["init", "rank", "size", "is_main", "barrier", "allreduce", "broadcast",
           "launched_under_mpi", "install_abort_handler", "DataParallel"]
