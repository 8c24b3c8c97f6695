"""ONNX interchange: :func:`export` a fastconv model, :func:`load` an ONNX model as a
trainable fastconv model, and an ONNX backend (:mod:`fastconv.onnx.backend`) that runs
ONNX graphs node by node on fastconv's kernels.

Needs the ``onnx`` package (``pip install "fastconv[onnx]"``); ``import fastconv`` never
imports it. See ``docs/onnx.md`` for what is supported, the layouts and the security stance
(ONNX files are untrusted input: everything is validated, nothing is executed).
"""
from ._proto import require_onnx as _require_onnx, Limits

_require_onnx()

from .export import export  # noqa: E402
from .load import load  # noqa: E402

__all__ = ["export", "load", "Limits"]
