"""One rank fails while the other waits in a collective; the job must end, non-zero.

    mpirun -n 2 python abort.py raise|sigterm
"""
import os
import signal
import sys
import time

import numpy as np

from fastconv import distributed


def main(how):
    strategy = distributed.DataParallel()
    strategy.install_abort_handler()
    distributed.barrier()
    if strategy.rank == 1:
        time.sleep(0.2)
        if how == "raise":
            raise RuntimeError("rank 1 fails on purpose")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)
    # rank 0: a collective rank 1 never joins; without the abort this waits forever
    distributed.allreduce(np.ones(4))
    print("rank 0 was not stopped", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
