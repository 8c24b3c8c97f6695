"""Resize (opset 10, 11, 13, 18, 19) and Upsample (opset 7-9) read as
:func:`fastconv.functional.interpolate` calls.

``interpolate`` computes PyTorch's 'nearest' (pixel ``floor(o * in / out)``) and 'bilinear'
(``align_corners`` False or True). The ONNX attribute combinations that are exactly these are
accepted, the others refused with ``NotImplementedError`` naming the attribute and value:

* ``mode='linear'`` with ``coordinate_transformation_mode`` 'half_pixel' or
  'pytorch_half_pixel' (``align_corners=False``; 'pytorch_half_pixel' only where the output
  has more than one row/column, where ONNX and PyTorch differ) or 'align_corners';
* ``mode='nearest'`` with 'asymmetric' + ``nearest_mode='floor'`` (any scale);
* ``mode='nearest'`` with 'half_pixel' / 'pytorch_half_pixel' + 'round_prefer_floor' /
  'round_prefer_ceil' when both factors are whole numbers (upsampling by 2, 3, ...): there
  ``(o + 0.5) / r - 0.5`` rounds to ``floor(o / r)`` for every ``o``;
* Resize-10 and Upsample: nearest upsampling (scales >= 1; their rule is ``floor(o / s)``).

The checks that need only the attributes run at ``prepare`` / ``load``; those that need the
scales or sizes run when they are known (folded constants at ``load``, run time in the
backend).
"""
import math

import numpy as np

from ._proto import Limits, where

__all__ = ["parse_resize", "parse_upsample", "scales_sizes", "plan"]

_CTM = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
        "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _refuse(node, attr, value, why):
    raise NotImplementedError(f"{where(node)}: attribute {attr!r}={value!r} is not supported "
                              f"({why})")


def _limit(A):
    return (A.limits or Limits()).max_tensor_elements


def parse_resize(A, node, opset):
    mode = A.string("mode", "nearest", ("nearest", "linear", "cubic"))
    if mode == "cubic":
        _refuse(node, "mode", mode, "fastconv interpolates nearest and linear only")
    if opset < 11:       # Resize-10: asymmetric coordinates
        if mode == "linear":
            _refuse(node, "mode", mode, "Resize-10's linear mode uses asymmetric coordinates, "
                    "which fastconv's bilinear interpolation does not")
        return {"mode": "nearest", "rule": "upsample", "align_corners": None, "axes": None,
                "limit": _limit(A)}
    ctm = A.string("coordinate_transformation_mode", "half_pixel", _CTM)
    nearest = A.string("nearest_mode", "round_prefer_floor", _NEAREST)
    A.float("cubic_coeff_a", -0.75)
    A.float("extrapolation_value", 0.0)
    if A.int("exclude_outside", 0, 0, 1):
        _refuse(node, "exclude_outside", 1, "only 0")
    if A.int("antialias", 0, 0, 1):
        _refuse(node, "antialias", 1, "fastconv's interpolation has no antialiasing filter")
    policy = A.string("keep_aspect_ratio_policy", "stretch",
                      ("stretch", "not_larger", "not_smaller"))
    if policy != "stretch":
        _refuse(node, "keep_aspect_ratio_policy", policy, "only 'stretch'")
    p = {"axes": A.ints("axes"), "ctm": ctm, "limit": _limit(A)}
    if mode == "linear":
        if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            _refuse(node, "coordinate_transformation_mode", ctm, "with mode 'linear' only "
                    "'half_pixel', 'pytorch_half_pixel' and 'align_corners'")
        p.update(mode="bilinear", rule="any", align_corners=ctm == "align_corners")
        return p
    if ctm == "asymmetric" and nearest == "floor":
        p.update(mode="nearest", rule="any", align_corners=None)
    elif ctm in ("half_pixel", "pytorch_half_pixel") and nearest.startswith("round_prefer"):
        p.update(mode="nearest", rule="integer", align_corners=None)
    else:
        raise NotImplementedError(
            f"{where(node)}: attributes 'coordinate_transformation_mode'={ctm!r} with "
            f"'nearest_mode'={nearest!r} are not supported (mode 'nearest' only as 'asymmetric' "
            "+ 'floor', or 'half_pixel' / 'pytorch_half_pixel' + 'round_prefer_*' for whole "
            "upsampling factors)")
    return p


def parse_upsample(A, node, opset):
    if opset < 7:
        raise NotImplementedError(f"{where(node)}: Upsample before opset 7 is not supported")
    mode = A.string("mode", "nearest", ("nearest", "linear", "bilinear"))
    if mode != "nearest":
        _refuse(node, "mode", mode, "Upsample's linear mode uses asymmetric coordinates, "
                "which fastconv's bilinear interpolation does not")
    p = {"mode": "nearest", "rule": "upsample", "align_corners": None, "axes": None,
         "scales": None, "limit": _limit(A)}
    if opset < 9:
        scales = A.floats("scales")
        if scales is None:
            raise ValueError(f"{where(node)}: attribute 'scales' is required")
        p["scales"] = [float(s) for s in scales]
    return p


def scales_sizes(p, xs, node):
    """``(scales, sizes)`` inputs of a Resize / Upsample node (None when absent or empty)."""
    def given(i):
        v = xs[i] if len(xs) > i else None
        return None if v is None or np.asarray(v).size == 0 else v
    if node.op_type == "Upsample":
        return (p["scales"] if p.get("scales") is not None else given(1)), None
    if len(node.input) == 2:        # Resize-10: (X, scales)
        return given(1), None
    return given(2), given(3)


def plan(p, shape, scales, sizes, node):
    """The ``functional.interpolate`` arguments for an input of ``shape`` (N, C, H, W):
    ``(kwargs, (Ho, Wo), factor)``; ``factor`` is the whole upsampling factor pair when
    there is one (``UpSampling2D`` computes exactly this), else None."""
    if len(shape) != 4:
        raise NotImplementedError(f"{where(node)}: only 4-D (N, C, H, W) inputs are "
                                  f"supported, got rank {len(shape)}")
    if (scales is None) == (sizes is None):
        raise ValueError(f"{where(node)}: give exactly one of the scales and sizes inputs")
    given = np.asarray(scales if scales is not None else sizes).reshape(-1)
    axes = p.get("axes")
    if axes is not None:
        axes = [a + 4 if a < 0 else a for a in axes]
        if sorted(set(axes)) != sorted(axes) or not all(0 <= a < 4 for a in axes):
            raise ValueError(f"{where(node)}: attribute 'axes'={list(p['axes'])} is invalid")
    else:
        axes = list(range(4))
    if len(given) != len(axes):
        raise ValueError(f"{where(node)}: {len(given)} scales/sizes for {len(axes)} axes")
    if scales is not None:
        if given.dtype.kind != "f" or not np.all(np.isfinite(given)) or np.any(given <= 0):
            raise ValueError(f"{where(node)}: scales must be positive floats, got "
                             f"{given.tolist()}")
        full = [1.0] * 4
        for a, s in zip(axes, given):
            full[a] = float(s)
        if full[:2] != [1.0, 1.0]:
            raise NotImplementedError(f"{where(node)}: scales {full} resize the batch or "
                                      "channel axis (only the height and width)")
        sh, sw = full[2:]
        out = tuple(math.floor(n * s) for n, s in zip(shape[2:], (sh, sw)))
    else:
        if given.dtype.kind not in "iu" or np.any(given <= 0):
            raise ValueError(f"{where(node)}: sizes must be positive integers, got "
                             f"{given.tolist()}")
        full = list(shape)
        for a, s in zip(axes, given):
            full[a] = int(s)
        if full[:2] != list(shape[:2]):
            raise NotImplementedError(f"{where(node)}: sizes {full} resize the batch or channel "
                                      "axis (only the height and width)")
        out = tuple(full[2:])
        sh, sw = (o / n for o, n in zip(out, shape[2:]))
    if min(out) < 1:
        raise ValueError(f"{where(node)}: scales {[sh, sw]} give an empty output {out} for "
                         f"{tuple(shape)}")
    if shape[1] * out[0] * out[1] > p["limit"]:
        raise ValueError(f"{where(node)}: an output of {shape[1]} x {out[0]} x {out[1]} per "
                         f"sample is more than the limit {p['limit']} "
                         "(Limits.max_tensor_elements)")
    whole = all(s == int(s) and o == n * int(s) for s, o, n in zip((sh, sw), out, shape[2:]))
    factor = (int(sh), int(sw)) if whole else None
    rule = p["rule"]
    if rule == "integer" and factor is None:
        raise NotImplementedError(
            f"{where(node)}: attribute 'coordinate_transformation_mode'={p['ctm']!r} with mode "
            f"'nearest' is supported for whole upsampling factors only, got scales "
            f"{[sh, sw]} (output {out} for {tuple(shape[2:])})")
    if rule == "upsample" and min(sh, sw) < 1:
        raise NotImplementedError(f"{where(node)}: nearest downsampling (scales {[sh, sw]}) "
                                  "is not supported for this operator version")
    if p.get("ctm") == "pytorch_half_pixel" and p["mode"] == "bilinear" and min(out) == 1:
        raise NotImplementedError(f"{where(node)}: attribute 'coordinate_transformation_mode'="
                                  f"'pytorch_half_pixel' with an output of size 1 ({out}) is "
                                  "not supported (it samples pixel 0, PyTorch the centre)")
    if p["align_corners"] and scales is not None and any(
            n * s != o for n, s, o in zip(shape[2:], (sh, sw), out)):
        raise NotImplementedError(f"{where(node)}: attribute 'coordinate_transformation_mode'="
                                  f"'align_corners' with scales {[sh, sw]} that do not give "
                                  f"whole sizes for {tuple(shape[2:])} is not supported (ONNX "
                                  "aligns to the unrounded size, PyTorch to the rounded one)")
    kwargs = {"mode": p["mode"], "align_corners": p["align_corners"]}
    if scales is not None and factor is None:
        kwargs["scale_factor"] = (sh, sw)
    else:
        kwargs["size"] = out
    return kwargs, out, factor
