"""``python -m fastconv train``: train a small CNN, by default on the bundled 8x8 digits.

    python -m fastconv train                      # defaults: >= 0.97 test accuracy in seconds
    python -m fastconv train --model lenet5 --epochs 20 --seed 1 --save digits.fcm
    python -m fastconv train --data mnist:~/data/mnist --model lenet5 --epochs 3
    python -m fastconv train --data cifar10:~/data/cifar-10-batches-bin --model cifar_example
    python -m fastconv train --checkpoint ckpt            # one checkpoint file per epoch
    python -m fastconv train --checkpoint ckpt --resume   # continue a killed job exactly
    mpirun -n 2 python -m fastconv train                  # data parallel over 2 processes

It prints one progress line per epoch (a live bar on a terminal) with the loss, the accuracy
and the images per second, then evaluates on the held-out test split; the last line of the
output is ``test accuracy: 0.9xxx``.  The same seed gives the same result.

Started by an MPI launcher with more than one process, the job trains data-parallel
(:class:`fastconv.distributed.DataParallel`): each global batch is split over the ranks and
only rank 0 prints and writes files (see docs/distributed.md).
"""
import argparse
import os
import sys
import time

import numpy as np

__all__ = ["main", "build_parser", "DEFAULTS"]

DEFAULTS = {
    "model": "small",
    "data": "digits",
    "epochs": 12,
    "batch_size": 32,
    "optimizer": "adam",
    "learning_rate": 0.002,
    "seed": 0,
}


# images with fewer pixels than this train on one thread unless --threads says otherwise
_TINY_PIXELS = 256


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return v
    return parse


def _nonnegative_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return v


def build_parser():
    from .models import MODELS
    p = argparse.ArgumentParser(
        prog="python -m fastconv train",
        description="Train a CNN with fastconv and report its test accuracy (last line).")
    p.add_argument("--model", default=DEFAULTS["model"], choices=sorted(MODELS),
                   help="network: 'small' (2 conv + pool + 2 FC, default), 'lenet5', or "
                        "'cifar_example' (CONV 12 -> RELU -> POOL -> FC)")
    p.add_argument("--data", default=DEFAULTS["data"], metavar="SPEC",
                   help="digits (bundled, default) | mnist:DIR | cifar10:DIR")
    p.add_argument("--epochs", type=_positive(int), default=DEFAULTS["epochs"],
                   help=f"number of epochs (default {DEFAULTS['epochs']})")
    p.add_argument("--batch-size", type=_positive(int), default=DEFAULTS["batch_size"],
                   help=f"mini-batch size (default {DEFAULTS['batch_size']})")
    p.add_argument("--optimizer", default=DEFAULTS["optimizer"], choices=("adam", "sgd"),
                   help="adam (default) or sgd (with momentum 0.9)")
    p.add_argument("--learning-rate", "--lr", type=_positive(float),
                   default=DEFAULTS["learning_rate"],
                   help=f"learning rate (default {DEFAULTS['learning_rate']})")
    p.add_argument("--threads", type=_positive(int), default=None,
                   help="kernel threads (default: 1 for tiny images such as the 8x8 digits, "
                        "whose layers are too small to gain from threads; otherwise "
                        "OMP_NUM_THREADS or all cores)")
    p.add_argument("--seed", type=_nonnegative_int, default=DEFAULTS["seed"],
                   help=f"seed for weights, dropout and shuffling (default {DEFAULTS['seed']})")
    p.add_argument("--validation-split", type=float, default=0.0, metavar="FRACTION",
                   help="hold out this fraction of the training set for per-epoch validation")
    p.add_argument("--save", metavar="PATH", default=None,
                   help="save the trained model to PATH (one file, written atomically)")
    p.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="write a checkpoint (weights, optimizer, generator states) to DIR at "
                        "the end of every epoch, keeping the newest 2")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest valid checkpoint in --checkpoint DIR "
                        "(the result is the same as an uninterrupted run); starts from "
                        "scratch when there is none")
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="save training curves, filters and feature maps as pictures in DIR")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="1: progress bar (one line per epoch when not a terminal), "
                        "2: one line per epoch, 0: silent training")
    return p


def _set_threads(n, out):
    """Set the kernels' thread count; returns the previous one (None if unavailable)."""
    try:
        import fastconv
        return fastconv.set_num_threads(n)
    except (ImportError, AttributeError) as e:
        out.write(f"note: --threads ignored, the thread count cannot be set here ({e})\n")
        return None


def _threads_now(note):
    try:
        import fastconv
        n = fastconv.get_num_threads()
    except (ImportError, AttributeError):
        return "threads: default"
    return f"{n} thread{'s' if n != 1 else ''}{note}"


def _save_plots(model, history, image, directory, out):
    """Draw the feature maps, filters and training curves into ``directory``; name each file
    written, or say why there are none.  Never raises for a missing matplotlib, an empty
    history or a bad directory: the job's result does not depend on its pictures."""
    if not getattr(history, "epoch", None) or not getattr(history, "history", {}).get("loss"):
        why = ("training was interrupted before the first epoch ended"
               if getattr(history, "interrupted", False) else "no epoch was completed")
        out.write(f"no plots written: {why}, so there are no training curves to draw\n")
        return
    try:
        from . import visualize
    except ImportError as e:
        out.write(f"plots unavailable: fastconv.visualize cannot be imported ({e})\n")
        return
    fn = getattr(visualize, "save_training_plots", None)
    if fn is None:
        out.write("plots unavailable: fastconv.visualize has no save_training_plots\n")
        return
    try:
        os.makedirs(directory, exist_ok=True)
        result = fn(model, history, image, directory)
    except ImportError as e:  # e.g. matplotlib is not installed
        out.write(f"plots unavailable: {e}\n")
        return
    except (ValueError, TypeError, OSError) as e:  # e.g. an unwritable directory
        out.write(f"plots not saved: {e}\n")
        return
    paths = [os.fspath(p) for p in result] if isinstance(result, (list, tuple)) else []
    if paths:
        out.write(f"saved {len(paths)} plot file(s) to {directory}:\n")
        for path in paths:
            out.write(f"  {path}\n")
    else:
        out.write(f"saved plots to {directory}\n")


def main(argv=None, stdout=None):
    """Run the training job; returns the exit status (0 on success)."""
    out = sys.stdout if stdout is None else stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.validation_split < 1.0:
        parser.error(f"--validation-split must be in [0, 1), got {args.validation_split}")
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint DIR (the directory to resume from)")

    # mpi4py is imported only when an MPI launcher started this process
    from . import distributed
    strategy = None
    if distributed.launched_under_mpi() and distributed.size() > 1:
        strategy = distributed.DataParallel()
        strategy.install_abort_handler()
        if not strategy.is_main:  # only rank 0 talks
            out = open(os.devnull, "w")
            args.verbose = 0

    from . import datasets, losses, models, optimizers

    try:
        (x_train, y_train), (x_test, y_test) = datasets.load_data(args.data)
    except (ValueError, FileNotFoundError, TypeError) as e:
        parser.exit(1, f"python -m fastconv train: cannot load --data {args.data!r}: {e}\n")
    threads = args.threads
    if threads is None and int(np.prod(x_train.shape[1:3])) < _TINY_PIXELS:
        # Per-call work on 8x8 maps is microseconds: measured on the 2-core machine, a second
        # thread makes a step ~1.7x faster when the machine is idle but 5-20x slower when
        # other processes compete for the cores (OpenMP barrier waits), so the default job
        # stays at ~3 s either way instead of ~1.5 s idle / 20-60 s busy.
        threads = 1
    previous = _set_threads(threads, out) if threads is not None else None
    try:
        return _run(args, out, models, losses, optimizers, threads,
                    (x_train, y_train), (x_test, y_test), parser, strategy)
    finally:
        if previous is not None:  # leave the process as it was (main() may run in-process)
            _set_threads(previous, out)


def _compile(model, strategy, **kwargs):
    """model.compile(**kwargs), data-parallel when ``strategy``."""
    model.compile(distribute=strategy, **kwargs)


def _resume(args, model, strategy, out):
    """The epoch to start from: restore the newest valid checkpoint when --resume."""
    from . import checkpoint
    from .distributed import comm
    if not args.resume:
        return 0
    # rank 0 chooses (and warns about damaged files) so that every rank loads the same file
    path = checkpoint.latest_checkpoint(args.checkpoint, model, stream=out) \
        if strategy is None or strategy.is_main else None
    if strategy is not None:
        path = comm.broadcast_text(path)
    if path is None:
        out.write(f"no checkpoint in {args.checkpoint}: starting from the first epoch\n")
        return 0
    start = checkpoint.restore(model, path)
    out.write(f"resumed from {path}: {start} epoch(s) already done\n")
    return start


def _run(args, out, models, losses, optimizers, threads, train_set, test_set, parser,
         strategy=None):
    (x_train, y_train), (x_test, y_test) = train_set, test_set
    note = ("" if args.threads is not None else
            " (default; --threads N to change)" if threads is None else
            " (tiny images: one thread; --threads N to change)")
    if len(x_test) == 0:
        parser.exit(1, f"python -m fastconv train: --data {args.data!r} has no test images\n")
    classes = int(max(y_train.max(), y_test.max())) + 1
    shape = tuple(int(s) for s in x_train.shape[1:])
    try:
        model = models.get_model(args.model, shape, classes=classes, seed=args.seed)
    except ValueError as e:
        parser.exit(1, f"python -m fastconv train: model {args.model!r} does not fit "
                       f"{'x'.join(map(str, shape))} images: {e}\n")
    if args.optimizer == "adam":
        opt = optimizers.Adam(learning_rate=args.learning_rate)
    else:
        opt = optimizers.SGD(learning_rate=args.learning_rate, momentum=0.9)
    _compile(model, strategy, optimizer=opt,
             loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    h, w, c = shape
    out.write(f"fastconv train: model {args.model} ({model.count_params():,} parameters) on "
              f"{args.data}: {len(x_train):,} training and {len(x_test):,} test images of "
              f"{h}x{w}x{c}, {classes} classes; {args.epochs} epochs, batch {args.batch_size}, "
              f"{args.optimizer} lr {args.learning_rate:g}, seed {args.seed}, "
              f"{_threads_now(note)}"
              f"{f'; data parallel over {strategy.size} processes' if strategy else ''}\n")
    start = _resume(args, model, strategy, out)
    callbacks = []
    if args.checkpoint:
        from .checkpoint import ModelCheckpoint
        callbacks.append(ModelCheckpoint(args.checkpoint))
    out.flush()
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_split=args.validation_split, verbose=args.verbose,
                        stream=out, initial_epoch=min(start, args.epochs),
                        callbacks=callbacks)
    train_time = time.perf_counter() - t0
    seen = len(history.epoch) * int(len(x_train) * (1 - args.validation_split))
    out.write(f"trained {len(history.epoch)} epoch(s) in {train_time:.1f} s "
              f"({seen / max(train_time, 1e-9):,.0f} images/s)"
              f"{' -- interrupted' if history.interrupted else ''}\n")
    main_rank = strategy is None or strategy.is_main
    if args.save and main_rank:
        model.save(args.save)
        out.write(f"saved model to {args.save}\n")
    if args.plots and main_rank:
        _save_plots(model, history, x_test[0], args.plots, out)
    test_loss, test_acc = model.evaluate(x_test, y_test, batch_size=256)
    out.write(f"test loss: {test_loss:.4f}\n")
    out.write(f"test accuracy: {test_acc:.4f}\n")
    out.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
