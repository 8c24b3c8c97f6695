"""Look inside a CNN: feature maps, learned filters and training curves, as pictures.

A CNN is best understood by looking at what it computes: the activation
volume that each convolution (and ReLU, and pooling) layer produces for one image, the
learned filters of the first layer, and how loss and accuracy evolve while training.

* :func:`feature_maps` -- the activations for one image, as arrays (NumPy only);
* :func:`plot_feature_maps` -- the input image, then every feature map of every
  convolution / activation / pooling layer, one titled block per layer;
* :func:`plot_filters` -- the first convolution layer's filters, in a diverging colour map
  centred at 0 (red positive, blue negative) with a colour bar; RGB tiles for 3 channels;
* :func:`plot_history` -- loss and accuracy per epoch, training and validation;
* :func:`save_training_plots` -- all three into a directory (``python -m fastconv train
  --plots DIR`` calls it).

Drawing needs matplotlib, an optional extra (``pip install 'fastconv[plot]'``).  It is
imported inside the plotting functions only, so ``import fastconv.visualize`` and
:func:`feature_maps` work without it.  Figures are drawn on matplotlib's Agg canvas
directly (``matplotlib.figure.Figure`` + ``FigureCanvasAgg``): no screen is needed, pyplot's
global backend and figure registry are never touched, and nothing stays open after saving.
"""
import collections
import math
import os

import numpy as np

from ._figures import (FILTER_CMAP, MAP_CMAP, MATPLOTLIB_MISSING, WIDTH_IN, Mosaic, Page,
                       check_path, mpl, new_figure, save)

__all__ = ["feature_maps", "plot_feature_maps", "plot_filters", "plot_history",
           "save_training_plots", "TrainingPlots", "MATPLOTLIB_MISSING"]


_KINDS = ("conv", "activation", "pool")

#: file names written by save_training_plots
FILE_NAMES = {"feature_maps": "feature_maps.png", "filters": "filters.png",
              "history": "history.png"}

TrainingPlots = collections.namedtuple("TrainingPlots", ["feature_maps", "filters", "history"])
TrainingPlots.__doc__ = ("Paths of the pictures written by save_training_plots (iterating "
                         "gives the three paths).")


# --------------------------------------------------------------------------- model checks

def _layer_kind(layer):
    from . import layers as L
    if isinstance(layer, L.Conv2D):
        return "conv"
    if isinstance(layer, (L.MaxPooling2D, L.AveragePooling2D)):
        return "pool"
    if isinstance(layer, (L.Activation, L.Maxout)):
        return "activation"
    return None


def _check_model(model, what="model"):
    if not hasattr(model, "layers") or not hasattr(model, "layer_outputs"):
        raise TypeError(f"{what} must be a fastconv.models.Sequential (with .layers and "
                        f".layer_outputs), got {type(model).__name__}: {model!r}")
    name = getattr(model, "name", "?")
    if not model.layers:
        raise ValueError(f"model {name!r} has no layers")
    if not getattr(model, "built", False):
        raise ValueError(f"model {name!r} is not built yet, so it has no weights or feature "
                         "maps: give its first layer an input_shape, or call "
                         "model.build(input_shape), or train it first")
    convs = [l for l in model.layers if _layer_kind(l) == "conv"]
    if not convs:
        kinds = ", ".join(f"{l.name} ({type(l).__name__})" for l in model.layers)
        raise ValueError(f"model {name!r} has no Conv2D layer, so it has no feature maps or "
                         f"filters to show; its layers: {kinds}")
    return convs


def _check_image(model, image):
    """One image -> (H, W, C) array matching the model's input shape."""
    if image is None:
        raise TypeError("image must be an array of shape (height, width, channels), got None")
    try:
        img = np.asarray(image)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"image must be an array, got {type(image).__name__}") from exc
    if img.dtype == object or img.dtype.kind not in "fiub":
        raise TypeError(f"image must be a numeric array, got dtype {img.dtype}")
    expected = tuple(model.input_shape[1:])
    if len(expected) != 3:
        raise ValueError(f"model {model.name!r} takes vectors {expected}, not images")
    shape = img.shape
    if img.ndim == 4 and shape[0] == 1:
        img = img[0]                                   # a batch of one
    elif img.ndim == 2 and expected[2] == 1:
        img = img[..., None]                           # grey image without channel axis
    if img.shape != expected:
        hint = ""
        if img.ndim == 4:
            hint = " (pass ONE image, e.g. x[0], not a batch)"
        elif img.ndim == 3 and img.shape == (expected[2],) + expected[:2]:
            hint = " (channels-first? fastconv takes channels-last (H, W, C) images)"
        raise ValueError(f"image has shape {shape} but model {model.name!r} expects one image "
                         f"of shape {expected} (height, width, channels){hint}")
    if img.dtype.kind == "f" and not np.all(np.isfinite(img)):
        raise ValueError("image contains NaN or infinite values")
    return img


def _check_include(include):
    if isinstance(include, str):
        include = (include,)
    try:
        include = tuple(include)
    except TypeError:
        raise TypeError(f"include must be a tuple of layer kinds from {_KINDS}, got "
                        f"{include!r}") from None
    bad = [k for k in include if k not in _KINDS]
    if bad or not include:
        raise ValueError(f"include must name layer kinds from {_KINDS}, got {include!r}")
    return include


def _all_outputs(model, image):
    outs = model.layer_outputs(image[None])
    return [(layer, np.asarray(a)[0]) for layer, a in outs]


# --------------------------------------------------------------------------- feature maps

def feature_maps(model, image, include=_KINDS):
    """The activations of every convolution (and activation and pooling) layer for one image.

    Parameters
    ----------
    model : fastconv.models.Sequential
        A built model with at least one Conv2D layer.
    image : array (H, W, C)
        One channels-last image of the model's input shape (``(H, W)`` is accepted for
        one-channel models, and a batch of one ``(1, H, W, C)``).
    include : tuple of 'conv', 'activation', 'pool'
        Which layers to report: Conv2D (with its fused activation, if any), stand-alone
        activation layers that act on images (ReLU, LeakyReLU, Maxout, ...: the
        "RELU" volumes of the classic diagrams) and pooling layers.  Default: all three.

    Returns
    -------
    collections.OrderedDict
        layer name -> activation volume ``(H', W', K)`` (channels-last, batch axis dropped),
        in the order of the layers; the shapes are the layers' ``output_shape[1:]`` as
        ``model.summary()`` states them.  Inference mode (dropout off).
    """
    _check_model(model)
    include = _check_include(include)
    img = _check_image(model, image)
    result = collections.OrderedDict()
    for layer, a in _all_outputs(model, img):
        if a.ndim == 3 and _layer_kind(layer) in include:
            result[layer.name] = a
    return result


def _volume(shape):
    return "x".join(str(s) for s in shape)


def _check_count(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{what} must be a positive integer, got {v!r}")
    return int(v)


def _describe(layer):
    """A short description of an image layer, e.g. '32 filters 3x3, stride 1, same, relu'."""
    kind = _layer_kind(layer)
    if kind == "conv":
        kh, kw = layer.kernel_size
        s = layer.strides
        stride = f"stride {s[0]}" if s[0] == s[1] else f"stride {s}"
        pad = layer.padding if isinstance(layer.padding, str) else f"pad {layer.padding}"
        act = layer.activation or "no activation"
        return f"convolution: {layer.filters} filters {kh}x{kw}, {stride}, {pad}, {act}"
    if kind == "pool":
        op = "max" if "Max" in type(layer).__name__ else "average"
        ps = getattr(layer, "pool_size", None)
        st = getattr(layer, "strides", None)
        desc = f"{op} pooling"
        if ps is not None:
            desc += f" {ps[0]}x{ps[1]}"
        if st is not None:
            desc += f", stride {st[0] if st[0] == st[1] else st}"
        return desc
    return f"activation: {getattr(layer, 'activation', type(layer).__name__)}"


def _input_tiles(img):
    """The input image as display tiles: one colour tile for 3 channels, else one grey tile
    per channel (up to 8)."""
    img = np.asarray(img, dtype=np.float64)
    if img.shape[2] == 3:
        lo, hi = float(img.min()), float(img.max())
        rgb = img if lo >= 0.0 and hi <= 1.0 else (img - lo) / (hi - lo if hi > lo else 1.0)
        return [(rgb, None)]
    return [(img[:, :, c], f"channel {c}" if img.shape[2] > 1 else None)
            for c in range(min(img.shape[2], 8))]


def plot_feature_maps(model, image, path, include=_KINDS, max_maps=64, columns=16,
                      scale="map", cmap=MAP_CMAP, outline=None, title=None):
    """Draw the input image, then each feature map of each convolution / activation /
    pooling layer for ``image``, one block per layer titled with the layer name and its
    volume and what it computes (e.g. ``"conv2d_1: 8x8x32   convolution: 32 filters 3x3,
    stride 1, same, relu"``).

    ``scale='map'`` (default): each map is stretched from 0 to its own maximum, so the shape
    of what it responds to shows best (an all-dark map does not respond at all);
    ``'layer'``: the maps of a layer share one colour scale, shown by a colour bar, so their
    strengths can be compared.  Layers with negative values (a convolution without
    activation) use a diverging map centred at 0.
    At most ``max_maps`` maps per layer are drawn (the title says so when some are left
    out), ``columns`` per row.  ``outline`` (default: for one-channel images) draws the outline of the input's
    strokes (the half-maximum contour of the image) in cyan over every map of the input's
    size, so one sees whether a map lights up on the strokes, on their edges or on the
    background.  Writes ``path`` (PNG unless its extension says otherwise);
    returns the path as str.
    """
    _check_model(model)
    include = _check_include(include)
    img = _check_image(model, image)
    p = check_path(path)
    max_maps = _check_count(max_maps, "max_maps")
    columns = _check_count(columns, "columns")
    if scale not in ("layer", "map"):
        raise ValueError(f"scale must be 'layer' or 'map', got {scale!r}")
    mpl()

    if outline is None:
        outline = img.shape[2] == 1
    ink = None
    if outline:
        g = np.asarray(img, np.float64).mean(axis=2)
        lo_, hi_ = float(g.min()), float(g.max())
        ink = (g - lo_) / (hi_ - lo_) if hi_ > lo_ else None
    outs = _all_outputs(model, img)
    blocks = [(layer, a) for layer, a in outs if a.ndim == 3 and _layer_kind(layer) in include]
    last = outs[-1][1]
    pred = int(np.argmax(last)) if last.ndim == 1 and last.size > 1 else None

    cbar_room = 1.0 if scale == "layer" else 0.2
    unit = (WIDTH_IN - 0.3 - cbar_room) / (columns * 1.12 - 0.12)   # tile width, inches
    page = Page()
    head = 0.32                                                        # block title band

    # the input image
    tiles = _input_tiles(img)
    H, W = img.shape[:2]
    in_unit = min(1.5 / max(H / W, 1e-9), 1.5)     # about 1.5 inches tall
    mo_in = Mosaic(1, len(tiles), H / W, gy=0.1 if len(tiles) == 1 else 0.25)
    t_in = f"input: {_volume(img.shape)}"
    if pred is not None:
        t_in += f"   (predicted class: {pred})"

    def draw_input(fig, add_axes, mo=mo_in, tiles=tiles, t=t_in):
        w, h = mo.size(in_unit)
        ax = add_axes(0.25, 0.0, w, h)
        mo.setup(ax)
        for c, (tile, label) in enumerate(tiles):
            kw = {} if tile.ndim == 3 else {"cmap": "gray"}
            mo.draw(ax, 0, c, tile, label=label, fontsize=9, **kw)
            if ink is not None:
                mo.outline(ax, 0, c, ink, linewidth=1.2)
        ax.set_title(t, fontsize=12, loc="left", pad=4)

    page.add(mo_in.size(in_unit)[1] + head, draw_input)

    for layer, a in blocks:
        n = min(a.shape[2], max_maps)
        cols = max(1, min(n, columns))
        rows = int(math.ceil(n / cols))
        h, w = a.shape[:2]
        mo = Mosaic(rows, cols, h / w)
        lo, hi = float(a[:, :, :n].min()), float(a[:, :, :n].max())
        diverging = lo < 0.0
        shown = "" if n == a.shape[2] else f"   (first {n} of {a.shape[2]} maps)"
        btitle = (f"{layer.name}: {_volume(a.shape)}      {_describe(layer)}{shown}")

        def draw_layer(fig, add_axes, a=a, n=n, cols=cols, mo=mo, lo=lo, hi=hi,
                       diverging=diverging, btitle=btitle):
            w_, h_ = mo.size(unit)
            ax = add_axes(0.15, 0.0, w_, h_)
            mo.setup(ax)
            ax.set_title(btitle, fontsize=12, loc="left", pad=2)
            im = None
            for i in range(n):
                m = a[:, :, i]
                # one colour scale for the layer, or one per map
                ml, mh = (lo, hi) if scale == "layer" else (float(m.min()), float(m.max()))
                if diverging:
                    v = max(-ml, mh, 1e-12)
                    kw = dict(cmap=FILTER_CMAP, vmin=-v, vmax=v)
                else:
                    kw = dict(cmap=cmap, vmin=0.0, vmax=max(mh, 1e-12))
                im = mo.draw(ax, i // cols, i % cols, m, label=str(i), **kw)
                if ink is not None and m.shape == ink.shape:
                    mo.outline(ax, i // cols, i % cols, ink)
            if scale == "layer":
                cax = add_axes(WIDTH_IN - cbar_room + 0.25, 0.05 * h_, 0.15, 0.9 * h_ - 0.1)
                cb = fig.colorbar(im, cax=cax)
                cb.ax.tick_params(labelsize=8)
                cb.set_label("activation", fontsize=9)

        page.add(mo.size(unit)[1] + head, draw_layer)

    if title is None:
        title = f"What each layer of {model.name!r} sees in one image"
        sub = []
        if scale == "map":
            sub.append("bright = strong response (each map scaled to its own maximum)")
        if ink is not None and any(a.shape[:2] == ink.shape for _, a in blocks):
            sub.append("cyan = outline of the input")
        if sub:
            title += "\n" + ";  ".join(sub)
    fig = page.render(title)
    return save(fig, p)


# --------------------------------------------------------------------------- filters

def _find_conv(model, layer):
    convs = _check_model(model)
    if layer is None:
        return convs[0]
    if isinstance(layer, str):
        for l in convs:
            if l.name == layer:
                return l
        raise ValueError(f"model {model.name!r} has no Conv2D layer named {layer!r}; its "
                         f"Conv2D layers: {[l.name for l in convs]}")
    if any(l is layer for l in convs):
        return layer
    raise TypeError(f"layer must be the name of a Conv2D layer of the model or None, got "
                    f"{layer!r}")


def plot_filters(model, path, layer=None, columns=None, max_filters=None, max_channels=16,
                 title=None):
    """Draw a convolution layer's learned filters (default: the first Conv2D) as small
    images, in the diverging colour map ``RdBu_r`` with limits symmetric about 0 (red =
    positive weight, blue = negative, white = 0) and a colour bar.

    * one input channel: one tile per filter, ``columns`` per row (default 8, or 16 for
      more than 32 filters);
    * three input channels: per filter, its colour image (grey = 0; the classic picture of
      first-layer filters) followed by its R, G and B weights;
    * other depths (a deeper layer): one row per filter, one column per input channel
      (at most ``max_filters`` filters, default 16, and ``max_channels`` channels).

    Writes ``path``; returns the path as str.
    """
    conv = _find_conv(model, layer)
    p = check_path(path)
    max_channels = _check_count(max_channels, "max_channels")
    w = np.asarray(conv.params["kernel"], dtype=np.float64)   # (K, C, kh, kw)
    K, C, kh, kw = w.shape
    if columns is not None:
        columns = _check_count(columns, "columns")
    if max_filters is not None:
        max_filters = _check_count(max_filters, "max_filters")
    mpl()
    v = float(np.abs(w).max()) or 1.0
    aspect = kh / kw
    div = dict(cmap=FILTER_CMAP, vmin=-v, vmax=v)
    tiles = []          # (x, y, image, imshow kwargs, label above or None)
    row_labels = []     # (y, text)
    notes = []
    gx, gy = 0.15, 0.35
    if C == 1 or C == 3:
        nk = K if max_filters is None else min(K, max_filters)
        per = 1 if C == 1 else 4                       # tiles per filter
        group_gap = 0.0 if C == 1 else 0.5
        if columns is None:
            columns = (16 if nk > 32 else 8) if C == 1 else 12
        groups_per_row = max(1, columns // per)
        for k in range(nk):
            r, g = divmod(k, groups_per_row)
            x = g * (per * (1 + gx) - gx + group_gap + gx)
            y = r * (aspect + gy) + gy
            label = f"filter {k}" if (C == 3 or groups_per_row <= 8) else str(k)
            if C == 1:
                tiles.append((x, y, w[k, 0], div, label))
            else:
                rgb = np.clip(w[k].transpose(1, 2, 0) / (2 * v) + 0.5, 0.0, 1.0)
                tiles.append((x, y, rgb, {}, None))
                for c in range(3):
                    tiles.append((x + (c + 1) * (1 + gx), y, w[k, c], div, None))
                # the filter's label, centred over its four tiles
                tiles.append((x + (4 * (1 + gx) - gx) / 2 - 0.5, y, None, None, label))
        if C == 3:
            notes.append("each filter: its colour image (grey = 0), then its R, G, B weights")
        if nk < K:
            notes.append(f"first {nk} of {K} filters shown")
    else:
        nk = min(K, 16 if max_filters is None else max_filters)
        nc = min(C, max_channels)
        for k in range(nk):
            y = k * (aspect + gy) + gy
            row_labels.append((y + aspect / 2, f"filter {k}"))
            for c in range(nc):
                tiles.append((1.6 + c * (1 + gx), y, w[k, c], div, f"ch {c}" if k == 0 else None))
        if nk < K or nc < C:
            notes.append(f"first {nk} of {K} filters and {nc} of {C} input channels shown")
    x_max = max(t[0] + 1 for t in tiles if t[2] is not None)
    y_max = max(t[1] + aspect for t in tiles if t[2] is not None)

    cbar_room = 1.1
    unit = min((WIDTH_IN - 0.3 - cbar_room) / x_max, 1.2)
    w_in, h_in = x_max * unit, y_max * unit
    page = Page()

    def draw(fig, add_axes):
        x0 = 0.15 + max(0.0, (WIDTH_IN - 0.3 - cbar_room - w_in) / 2)
        ax = add_axes(x0, 0.0, w_in, h_in)
        ax.set_xlim(0, x_max)
        ax.set_ylim(y_max, 0)
        ax.set_aspect("equal")
        ax.set_axis_off()
        im, segs = None, []
        for x, y, img, kw_, label in tiles:
            if img is not None:
                h_ = ax.imshow(img, extent=(x, x + 1, y + aspect, y), interpolation="nearest",
                               **kw_)
                if kw_:
                    im = h_
                segs.append([(x, y), (x + 1, y), (x + 1, y + aspect), (x, y + aspect), (x, y)])
            if label is not None:
                ax.text(x + 0.5, y - 0.04, label, ha="center", va="bottom",
                        fontsize=9 if unit > 0.5 else 7)
        for y, text in row_labels:
            ax.text(1.5, y, text, ha="right", va="center", fontsize=9 if unit > 0.5 else 7)
        from matplotlib.collections import LineCollection
        ax.add_collection(LineCollection(segs, colors="0.75", linewidths=0.6))
        cax = add_axes(x0 + w_in + 0.3, 0.05 * h_in, 0.17, 0.9 * h_in)
        cb = fig.colorbar(im, cax=cax)
        cb.set_label("weight", fontsize=10)
        cb.ax.tick_params(labelsize=9)

    page.add(h_in + 0.1, draw)
    if notes:
        page.add(0.3 * len(notes), lambda fig, add_axes: None)
    if title is None:
        ch = f"{C} input channel{'s' if C != 1 else ''}"
        title = (f"{conv.name}: {K} learned {kh}x{kw} filters on {ch}\n"
                 f"red = positive weight, blue = negative, white = 0")
    fig = page.render(title, title_size=13)
    for i, note in enumerate(notes):
        fig.text(0.02, (0.3 * (len(notes) - i) - 0.1) / fig.get_figheight(), note, fontsize=10)
    return save(fig, p)


# --------------------------------------------------------------------------- history

_ACC_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")


def _history_dict(history):
    h = getattr(history, "history", history)
    if not isinstance(h, dict):
        raise TypeError("history must be a History (the result of model.fit) or a dict "
                        f"metric name -> per-epoch values, got {type(history).__name__}")
    if not h:
        raise ValueError("history is empty: no epoch was completed")
    out = {}
    for k, v in h.items():
        try:
            a = np.asarray(v, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise TypeError(f"history[{k!r}] must be a list of numbers, got {v!r}") from None
        out[str(k)] = a
    if "loss" not in out:
        raise ValueError(f"history has no 'loss' values; its keys: {sorted(out)}")
    if out["loss"].size == 0:
        raise ValueError("history['loss'] is empty: no epoch was completed")
    return out


def plot_history(history, path, title=None):
    """Two panels, loss and accuracy per epoch, each with the training and (when present)
    the validation curve, axis labels and a legend giving the last value.  ``history`` is
    the :class:`fastconv.models.History` that ``fit`` returns, or its ``.history`` dict.
    Writes ``path``; returns the path as str."""
    h = _history_dict(history)
    p = check_path(path)
    _, _, MaxNLocator = mpl()
    acc = next((k for k in _ACC_KEYS if k in h), None)
    fig = new_figure(WIDTH_IN, 4.4)
    n_epochs = max(len(v) for v in h.values())
    if title is None:
        title = f"Training curves ({n_epochs} epoch{'s' if n_epochs != 1 else ''})"
    fig.suptitle(title, fontsize=14, fontweight="bold")
    ax_loss, ax_acc = fig.subplots(1, 2)
    panels = ((ax_loss, "loss", "loss (cross-entropy)"),
              (ax_acc, acc, "accuracy"))
    for ax, key, ylabel in panels:
        ax.set_xlabel("epoch", fontsize=11)
        ax.set_ylabel(ylabel, fontsize=11)
        ax.set_title(ylabel.split(" ")[0].capitalize(), fontsize=12)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=10)
        if key is None:
            ax.text(0.5, 0.5, "no accuracy recorded\n(compile with metrics=['accuracy'])",
                    ha="center", va="center", transform=ax.transAxes, fontsize=11)
            continue
        plotted = False
        for k, label, style in ((key, "training", "-o"), ("val_" + key, "validation", "--s")):
            if k in h and h[k].size:
                y = h[k]
                x = np.arange(1, y.size + 1)
                fmt = ".4f" if key == "loss" else ".3f"
                ax.plot(x, y, style, markersize=4, linewidth=2,
                        label=f"{label} (last {y[-1]:{fmt}})")
                plotted = True
        if plotted:
            ax.legend(fontsize=10, loc="best")
        if key != "loss":
            lo = min(float(np.nanmin(h[k])) for k in (key, "val_" + key) if k in h and h[k].size)
            ax.set_ylim(max(0.0, min(lo, 1.0) - 0.05), 1.005)
    return save(fig, p)


# --------------------------------------------------------------------------- all three

def save_training_plots(model, history, image, directory):
    """Write ``feature_maps.png`` (for ``image``), ``filters.png`` (the first Conv2D layer)
    and ``history.png`` into ``directory`` (created if needed).

    Returns a :class:`TrainingPlots` named tuple of the three paths (iterate it, or use
    ``.feature_maps``, ``.filters``, ``.history``).  Everything is checked before anything is
    written."""
    if isinstance(directory, bytes) or not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path (str or os.PathLike), got {directory!r}")
    d = os.fspath(directory)
    if not d:
        raise ValueError("directory must not be empty")
    if os.path.exists(d) and not os.path.isdir(d):
        raise ValueError(f"directory {d!r} exists and is not a directory")
    _check_model(model)
    _check_image(model, image)
    _history_dict(history)
    mpl()
    os.makedirs(d, exist_ok=True)
    paths = {k: os.path.join(d, v) for k, v in FILE_NAMES.items()}
    plot_feature_maps(model, image, paths["feature_maps"])
    plot_filters(model, paths["filters"])
    plot_history(history, paths["history"])
    return TrainingPlots(**paths)
