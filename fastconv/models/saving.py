"""Model files: one NumPy ``.npz`` archive holding the architecture and the weights.

Layout of the archive (read with ``allow_pickle=False``; nothing is ever unpickled):

* ``__fastconv__`` -- a uint8 array: UTF-8 JSON header ``{"format": "fastconv.model",
  "version": 1, "model": <model config: a Sequential or a graph>, "compile": <optimizer/loss/metrics or null>,
  "arrays": [{"key", "dtype", "shape"}, ...], "sha256": <digest>}``;
* ``w0000``, ``w0001``, ... -- the weights, layer by layer (params then buffers, the
  internal layout: convolution kernels ``(K, C, R, S)``, dense kernels ``(out, in)``);
* ``o0000``, ... -- the optimizer state (step count and slots), when saved.

The header also records the states of the model's random generators (shuffling, dropout),
so a loaded model resumes training exactly as the saved one would have.

The SHA-256 digest covers the header's model/compile/rng sections and every array's dtype,
shape and bytes, so a truncated, foreign or edited file is refused with a ``ValueError``
instead of producing a silently different model (it is an integrity check, not a
signature).  A file edited with its digest recomputed is held to the weights it holds:
the architecture is built under a budget of that many values (``layers.base.weight_budget``),
so an edited layer size fails with a ``ValueError`` before its weights are allocated.
Files are written atomically: to a temporary file in the same directory,
flushed and fsynced, then ``os.replace``d over the target, so a crash never leaves a
half-written model behind.  Loading gives bitwise identical weights, hence identical
predictions.
"""
import hashlib
import io
import json
import os
import zipfile

import numpy as np

from .. import losses, optimizers
from .._npz import check_members
from .._atomic import atomic_write
from ..layers.base import weight_budget, weights_changed
from .model import Model
from .sequential import Sequential

__all__ = ["save_model", "load_model", "FORMAT", "VERSION"]

FORMAT = "fastconv.model"
VERSION = 1
_HEADER_KEY = "__fastconv__"
_MAX_HEADER_BYTES = 16 * 1024 * 1024
_ALLOWED_DTYPES = ("float32", "float64", "int64")


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(model_cfg, compile_cfg, entries, arrays, rng_state=None):
    h = hashlib.sha256()
    h.update(FORMAT.encode())
    h.update(_canonical({"model": model_cfg, "compile": compile_cfg, "rng": rng_state}).encode())
    for e in entries:
        a = arrays[e["key"]]
        h.update(_canonical(e).encode())
        h.update(np.array(a, order="C").tobytes())
    return h.hexdigest()


def _compile_config(model, include_optimizer):
    if not model.compiled:
        return None, {}
    cfg = {"loss": losses.serialize(model.loss), "metrics": model.metrics_names[1:],
           "optimizer": None}
    state = {}
    if include_optimizer:
        try:
            cfg["optimizer"] = optimizers.serialize(model.optimizer)
        except TypeError:  # custom optimizer or a schedule: save the model without it
            cfg["optimizer"] = None
        else:
            st = model.optimizer.get_state()
            cfg["optimizer_state"] = sorted(st)
            state = {name: np.asarray(a) for name, a in st.items()}
    return cfg, state


def save_model(model, path, include_optimizer=True):
    """Write ``model`` (architecture, weights, optimizer) to ``path`` atomically."""
    if not isinstance(model, Model):
        raise TypeError(f"save_model needs a fastconv model, got {model!r}")
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built (no weights yet); build it or "
                         "train it before saving")
    path = os.fspath(path)
    model_cfg = model.get_config()
    compile_cfg, opt_state = _compile_config(model, include_optimizer)

    arrays, entries = {}, []
    for i, w in enumerate(w for l in model.layers for w in l.weights.values()):
        key = f"w{i:04d}"
        arrays[key] = np.array(w, order="C")
        entries.append({"key": key, "dtype": w.dtype.name, "shape": list(w.shape)})
    if compile_cfg is not None and compile_cfg.get("optimizer_state"):
        names = compile_cfg["optimizer_state"]
        for j, name in enumerate(names):
            key = f"o{j:04d}"
            arrays[key] = np.array(opt_state[name], order="C")  # keeps 0-d arrays 0-d
            entries.append({"key": key, "dtype": arrays[key].dtype.name,
                            "shape": list(arrays[key].shape)})
    rng_state = model.random_state()
    header = {"format": FORMAT, "version": VERSION, "model": model_cfg,
              "compile": compile_cfg, "rng": rng_state, "arrays": entries,
              "sha256": _digest(model_cfg, compile_cfg, entries, arrays, rng_state)}
    header_bytes = _canonical(header).encode("utf-8")

    atomic_write(path, lambda f: np.savez(
        f, **{_HEADER_KEY: np.frombuffer(header_bytes, dtype=np.uint8)}, **arrays))


class _Bad(Exception):
    pass


def _read_archive(path):
    """(header dict, arrays dict) from the file, or raise _Bad with the reason."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"PK"):
        raise _Bad("it is not a fastconv model file (not a zip/.npz archive)")
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise _Bad(f"the archive is damaged or truncated ({e})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _Bad("it is not a fastconv model file (not an .npz archive)")
    with npz:
        try:
            check_members(npz.zip, len(data))
        except ValueError as e:
            raise _Bad(str(e)) from None
        if _HEADER_KEY not in npz.files:
            raise _Bad("it is not a fastconv model file (no fastconv header; a foreign .npz?)")
        try:
            raw = npz[_HEADER_KEY]
        except Exception as e:
            raise _Bad(f"the header cannot be read ({e})") from None
        if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > _MAX_HEADER_BYTES:
            raise _Bad("the fastconv header is malformed")
        try:
            header = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise _Bad(f"the fastconv header is not valid JSON ({e})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise _Bad("it is not a fastconv model file (wrong format tag)")
        version = header.get("version")
        if not isinstance(version, int) or version > VERSION or version < 1:
            raise _Bad(f"it has format version {version!r}; this fastconv reads version "
                       f"{VERSION}")
        entries = header.get("arrays")
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("key"), str) for e in entries):
            raise _Bad("the header's array list is malformed")
        expected = {_HEADER_KEY} | {e["key"] for e in entries}
        if set(npz.files) != expected:
            extra = sorted(set(npz.files) - expected)
            missing = sorted(expected - set(npz.files))
            raise _Bad(f"the archive's contents do not match its header (missing {missing}, "
                       f"unexpected {extra})")
        arrays = {}
        for e in entries:
            try:
                a = npz[e["key"]]
            except Exception as ex:
                raise _Bad(f"array {e['key']!r} cannot be read ({ex})") from None
            if a.dtype.name not in _ALLOWED_DTYPES or a.dtype.name != e.get("dtype") \
                    or list(a.shape) != e.get("shape"):
                raise _Bad(f"array {e['key']!r} has dtype {a.dtype} and shape {a.shape}, the "
                           f"header says {e.get('dtype')} {e.get('shape')}")
            arrays[e["key"]] = a
    digest = _digest(header.get("model"), header.get("compile"), entries, arrays,
                     header.get("rng"))
    if digest != header.get("sha256"):
        raise _Bad("its checksum does not match: the file was modified or corrupted")
    return header, arrays


def load_model(path, compile=True):
    """Load a model written by :func:`save_model`.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the reason for
    anything that is not an intact fastconv model file.  With ``compile=True`` (default) a
    model saved after ``compile()`` comes back compiled, with its optimizer state.
    """
    path = os.fspath(path)
    try:
        header, arrays = _read_archive(path)
    except _Bad as e:
        raise ValueError(f"cannot load model from {path!r}: {e}") from None
    entries = header["arrays"]
    weight_keys = [e["key"] for e in entries if e["key"].startswith("w")]
    try:
        cfg = header["model"]
        kind = cfg.get("class_name", "Sequential") if isinstance(cfg, dict) else None
        if kind not in ("Sequential", "Model"):
            raise ValueError(f"unknown model class {kind!r}")
        with weight_budget(sum(int(arrays[k].size) for k in weight_keys)):
            model = (Sequential if kind == "Sequential" else Model).from_config(cfg)
            if not model.built:
                model.build()
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"cannot load model from {path!r}: the architecture in the file is "
                         f"invalid ({e})") from None
    targets = [w for l in model.layers for w in l.weights.values()]
    if len(weight_keys) != len(targets):
        raise ValueError(f"cannot load model from {path!r}: the file holds {len(weight_keys)} "
                         f"weight arrays, the architecture needs {len(targets)}")
    for key, target in zip(weight_keys, targets):
        a = arrays[key]
        if a.shape != target.shape or a.dtype != target.dtype:
            raise ValueError(f"cannot load model from {path!r}: weight {key} has shape "
                             f"{a.shape} {a.dtype}, the architecture needs {target.shape} "
                             f"{target.dtype}")
    for key, target in zip(weight_keys, targets):
        target[...] = arrays[key]
    weights_changed()
    if header.get("rng") is not None:
        try:
            model.set_random_state(header["rng"])
        except ValueError as e:
            raise ValueError(f"cannot load model from {path!r}: {e}") from None
    cc = header.get("compile")
    if compile and cc:
        try:
            opt = (optimizers.deserialize(cc["optimizer"]) if cc.get("optimizer")
                   else "rmsprop")
            model.compile(optimizer=opt, loss=losses.deserialize(cc["loss"]),
                          metrics=cc.get("metrics") or None)
            names = cc.get("optimizer_state") or []
            if cc.get("optimizer") and names:
                okeys = [e["key"] for e in entries if e["key"].startswith("o")]
                state = {name: arrays[k] for name, k in zip(names, okeys)}
                model.optimizer.set_state(state)
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"cannot load model from {path!r}: the training configuration in "
                             f"the file is invalid ({e})") from None
    return model
