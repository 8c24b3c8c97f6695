"""Crash-safe training checkpoints: save at each epoch end, resume exactly where a killed job
stopped.

    from fastconv.checkpoint import ModelCheckpoint, latest_checkpoint, restore
    path = latest_checkpoint("ckpt", model)          # None when there is none (yet)
    start = restore(model, path) if path else 0
    model.fit(x, y, epochs=10, initial_epoch=start, callbacks=[ModelCheckpoint("ckpt")])

One file per completed epoch, ``DIR/ckpt-000003.npz`` (3 epochs done), an ``.npz`` archive
read with ``allow_pickle=False``:

* ``meta`` -- a uint8 array, UTF-8 JSON: ``{"format": "fastconv.checkpoint", "version": 1,
  "epoch": int, "optimizer": {"class", "keys"} or null, "rng": <generator states>,
  "arrays": [{"key", "dtype", "shape"}, ...]}``;
* ``sha256`` -- a uint8 array, the hex SHA-256 of ``meta`` and every array's bytes;
* ``w000000``, ... -- ``model.get_weights()`` (params and buffers, layer by layer);
* ``o000000``, ... -- ``model.optimizer.get_state()`` (step count and slots), in ``keys`` order.

A file is written to a temporary file in the same directory, fsynced and renamed over its
name, so a crash leaves either the old set of files or the new one; a damaged, truncated or
foreign file is skipped by :func:`latest_checkpoint` with a warning.  Resuming restores the
weights, the optimizer and the random generators (shuffling, dropout), so the rest of the
run is the same as if it had never stopped.
"""
import hashlib
import json
import os
import re
import sys
import zipfile

import numpy as np

from ._atomic import atomic_write
from ._npz import check_members

from .models import Callback

__all__ = ["ModelCheckpoint", "save_checkpoint", "latest_checkpoint", "list_checkpoints",
           "restore", "checkpoint_state", "restore_state", "CheckpointError"]

FORMAT = "fastconv.checkpoint"
VERSION = 1
_NAME = re.compile(r"^ckpt-(\d{6,})\.npz$")
_TMP_PREFIX = ".ckpt-"
_MAX_META_BYTES = 16 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: damaged, truncated, foreign or for another
    model.  The message names the file and the reason."""


# --------------------------------------------------------------------------- generator states

def checkpoint_state(model):
    """The states of the model's random generators as a JSON-able dict (shuffling, each
    layer's dropout): ``model.random_state()``."""
    return model.random_state()


def restore_state(model, state):
    """Put the generator states of :func:`checkpoint_state` back into ``model``.  Everything
    is checked before anything is changed; raises ValueError for a state that does not fit
    the model (another number of layers, a malformed state)."""
    if not isinstance(state, dict) or not isinstance(state.get("layers"), list):
        raise ValueError(f"restore_state: expected a dict with 'fit' and 'layers', got "
                         f"{state!r:.80}")
    model.set_random_state(state)


# --------------------------------------------------------------------------- writing

def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(meta_bytes, entries, arrays):
    h = hashlib.sha256(meta_bytes)
    for e in entries:
        h.update(np.array(arrays[e["key"]], order="C").tobytes())
    return h.hexdigest().encode("ascii")


def _optimizer_state(model):
    opt = getattr(model, "optimizer", None)
    if opt is None or not callable(getattr(opt, "get_state", None)) \
            or not callable(getattr(opt, "set_state", None)):
        return None, {}
    state = {str(k): np.asarray(v) for k, v in opt.get_state().items()}
    return {"class": type(opt).__name__, "keys": sorted(state)}, state


def _is_main(model):
    strategy = getattr(model, "distribute", None)
    if strategy is not None and hasattr(strategy, "is_main"):
        return bool(strategy.is_main)
    from . import distributed
    return distributed.is_main()


def save_checkpoint(model, directory, epoch, keep=None):
    """Write the checkpoint of ``model`` after ``epoch`` completed epochs to
    ``directory/ckpt-{epoch:06d}.npz`` atomically; keep only the newest ``keep`` files
    (all when None).  Returns the path."""
    directory = _directory_arg(directory, "save_checkpoint")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"save_checkpoint: epoch must be a non-negative integer, got {epoch!r}")
    keep = _keep_arg(keep, "save_checkpoint")
    opt_meta, opt_state = _optimizer_state(model)
    arrays, entries = {}, []

    def add(key, a):
        a = np.array(a, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        arrays[key] = a
        entries.append({"key": key, "dtype": a.dtype.str, "shape": list(a.shape)})

    for i, w in enumerate(model.get_weights()):
        add(f"w{i:06d}", w)
    for j, k in enumerate(opt_meta["keys"] if opt_meta else []):
        add(f"o{j:06d}", opt_state[k])
    meta = {"format": FORMAT, "version": VERSION, "epoch": int(epoch),
            "optimizer": opt_meta, "rng": checkpoint_state(model), "arrays": entries}
    meta_bytes = _canonical(meta).encode("utf-8")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"ckpt-{int(epoch):06d}.npz")
    digest = _digest(meta_bytes, entries, arrays)
    atomic_write(path, lambda f: np.savez(f, meta=np.frombuffer(meta_bytes, np.uint8),
                                          sha256=np.frombuffer(digest, np.uint8), **arrays),
                 prefix=_TMP_PREFIX)
    if keep is not None:
        for old in list_checkpoints(directory)[keep:]:
            try:
                os.unlink(old[1])
            except OSError:  # already gone, or not ours to delete: not worth failing a run
                pass
    return path


def _directory_arg(directory, owner):
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        raise TypeError(f"{owner}: directory must be a non-empty path, got {directory!r}")
    return os.fspath(directory)


def _keep_arg(keep, owner):
    if keep is None:
        return None
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep < 1:
        raise ValueError(f"{owner}: keep must be an integer >= 1 or None, got {keep!r}")
    return int(keep)


# --------------------------------------------------------------------------- reading

def list_checkpoints(directory):
    """``[(epoch, path), ...]`` of the checkpoint files in ``directory``, newest first (by
    the epoch in the name; files are not opened)."""
    directory = _directory_arg(directory, "list_checkpoints")
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [(int(m.group(1)), os.path.join(directory, n))
             for n in names for m in [_NAME.match(n)] if m]
    return sorted(found, reverse=True)


def _bad(path, why):
    return CheckpointError(f"checkpoint {path}: {why}")


def _read(path):
    """(meta, weights, optimizer state dict) from a checkpoint file, fully verified."""
    try:
        with zipfile.ZipFile(path) as z:
            # compressed members and sizes the file cannot hold, before numpy allocates
            check_members(z, os.path.getsize(path))
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise _bad(path, f"not a readable archive, truncated or damaged ({e})") from None
    except ValueError as e:
        raise _bad(path, f"unexpected archive layout: {e}") from None
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = set(npz.files)
            if not {"meta", "sha256"} <= files:
                raise _bad(path, "not a fastconv checkpoint (no meta/sha256 entries)")
            raw, digest = npz["meta"], npz["sha256"]
            if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > _MAX_META_BYTES \
                    or digest.dtype != np.uint8 or digest.ndim != 1:
                raise _bad(path, "malformed meta or sha256 entry")
            meta_bytes = raw.tobytes()
            meta = json.loads(meta_bytes.decode("utf-8"))
            _check_meta(path, meta)
            entries = meta["arrays"]
            if files != {"meta", "sha256"} | {e["key"] for e in entries}:
                raise _bad(path, "its entries do not match its meta data")
            arrays = {}
            for e in entries:
                a = npz[e["key"]]
                if a.dtype.str != e["dtype"] or list(a.shape) != e["shape"] \
                        or a.dtype.kind not in "biuf":
                    raise _bad(path, f"array {e['key']} is {a.dtype.str}{a.shape}, the meta "
                                     f"data says {e['dtype']}{tuple(e['shape'])}")
                arrays[e["key"]] = a
    except CheckpointError:
        raise
    except Exception as e:  # anything a damaged file can make numpy, zipfile or json raise
        raise _bad(path, f"damaged or truncated ({type(e).__name__}: {e})") from None
    if digest.tobytes() != _digest(meta_bytes, entries, arrays):
        raise _bad(path, "checksum mismatch: the file was modified or corrupted")
    weights = [arrays[e["key"]] for e in entries if e["key"].startswith("w")]
    keys = meta["optimizer"]["keys"] if meta["optimizer"] else []
    opt_arrays = [arrays[e["key"]] for e in entries if e["key"].startswith("o")]
    if len(keys) != len(opt_arrays):
        raise _bad(path, "the optimizer keys do not match its arrays")
    return meta, weights, dict(zip(keys, opt_arrays))


def _check_meta(path, meta):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _bad(path, "not a fastconv checkpoint (wrong format tag)")
    if meta.get("version") != VERSION:
        raise _bad(path, f"format version {meta.get('version')!r}; this fastconv reads "
                         f"version {VERSION}")
    epoch = meta.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise _bad(path, f"bad epoch {epoch!r}")
    entries = meta.get("arrays")
    ok = isinstance(entries, list) and all(
        isinstance(e, dict) and isinstance(e.get("key"), str) and e["key"][:1] in ("w", "o")
        and isinstance(e.get("dtype"), str) and isinstance(e.get("shape"), list)
        and all(isinstance(s, int) and s >= 0 for s in e["shape"]) for e in entries)
    if not ok or len({e["key"] for e in entries}) != len(entries):
        raise _bad(path, "malformed array list")
    opt = meta.get("optimizer")
    if opt is not None and not (isinstance(opt, dict) and isinstance(opt.get("class"), str)
                                and isinstance(opt.get("keys"), list)
                                and all(isinstance(k, str) for k in opt["keys"])):
        raise _bad(path, "malformed optimizer entry")


def _check_fits(path, model, meta, weights, opt_state):
    """Raise CheckpointError unless the file's contents fit ``model`` exactly."""
    current = model.get_weights()
    if len(current) != len(weights):
        raise _bad(path, f"{len(weights)} weight arrays, the model has {len(current)}")
    for i, (w, c) in enumerate(zip(weights, current)):
        if w.shape != c.shape or w.dtype != c.dtype:
            raise _bad(path, f"weight {i} is {w.dtype}{w.shape}, the model's is "
                             f"{c.dtype}{c.shape}")
    opt_meta = meta["optimizer"]
    opt = getattr(model, "optimizer", None)
    if opt_meta is not None and opt is not None:
        if opt_meta["class"] != type(opt).__name__:
            raise _bad(path, f"optimizer state of {opt_meta['class']}, the model is compiled "
                             f"with {type(opt).__name__}")
        trainable = list(getattr(model, "trainable_weights", []))
        for k, a in opt_state.items():
            slot, _, index = k.rpartition("/")
            if slot and index.isdigit():
                i = int(index)
                if i >= len(trainable) or a.shape != trainable[i].shape \
                        or a.dtype != trainable[i].dtype:
                    raise _bad(path, f"optimizer slot {k} ({a.dtype}{a.shape}) does not fit "
                                     "the model's trainable weights")
            elif k == "iterations" and (a.shape != () or a.dtype.kind not in "iu"):
                raise _bad(path, "malformed optimizer step count")
    try:  # the generators: check them now so that restore cannot fail half-way
        rng = meta.get("rng")
        if not isinstance(rng, dict) or not isinstance(rng.get("layers"), list) \
                or len(rng["layers"]) != len(model.layers):
            raise ValueError("the generator states do not match the model's layers")
        model.check_random_state(rng)
    except ValueError as e:
        raise _bad(path, str(e)) from None


def latest_checkpoint(directory, model=None, stream=None):
    """The path of the newest usable checkpoint in ``directory``, or None.  Damaged,
    truncated or (given ``model``) incompatible files are skipped with a warning on
    ``stream`` (stderr) that names the file; the next older one is tried."""
    out = sys.stderr if stream is None else stream
    for _, path in list_checkpoints(directory):
        try:
            meta, weights, opt_state = _read(path)
            if model is not None:
                _check_fits(path, model, meta, weights, opt_state)
        except CheckpointError as e:
            out.write(f"warning: skipping {e}; trying an older checkpoint\n")
            out.flush()
            continue
        return path
    return None


def restore(model, path):
    """Load the checkpoint ``path`` into ``model`` (weights, optimizer state, generators);
    returns the number of completed epochs, i.e. the ``initial_epoch`` to resume ``fit``
    with.  Raises CheckpointError (a ValueError) naming the file when it is damaged or does
    not fit the model, in which case the model is left unchanged."""
    path = os.fspath(path)
    meta, weights, opt_state = _read(path)
    _check_fits(path, model, meta, weights, opt_state)
    model.set_weights([np.array(w) for w in weights])
    opt = getattr(model, "optimizer", None)
    if meta["optimizer"] is not None and opt is not None:
        opt.set_state({k: np.array(a) for k, a in opt_state.items()})
    restore_state(model, meta["rng"])
    return meta["epoch"]


# --------------------------------------------------------------------------- the callback

class ModelCheckpoint(Callback):
    """Save a checkpoint at the end of every epoch into ``directory``, keeping the newest
    ``keep`` files (all when None).  In a data-parallel job only rank 0 writes.

    ``ModelCheckpoint(directory, keep=2)``; ``last_path`` is the newest file written.
    """

    def __init__(self, directory, keep=2):
        super().__init__()
        self.directory = _directory_arg(directory, "ModelCheckpoint")
        self.keep = _keep_arg(keep, "ModelCheckpoint")
        self.last_path = None

    def on_train_begin(self, logs=None):
        if not _is_main(self.model):
            return
        os.makedirs(self.directory, exist_ok=True)
        # temporary files of a writer that was killed mid-write are never read: drop them
        for name in os.listdir(self.directory):
            if name.startswith(_TMP_PREFIX) and name.endswith(".tmp"):
                try:
                    os.unlink(os.path.join(self.directory, name))
                except OSError:
                    pass

    def on_epoch_end(self, epoch, logs=None):
        if _is_main(self.model):
            self.last_path = save_checkpoint(self.model, self.directory, epoch + 1,
                                             keep=self.keep)

    def __repr__(self):
        return f"ModelCheckpoint({self.directory!r}, keep={self.keep})"
