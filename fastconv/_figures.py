"""Drawing machinery of :mod:`fastconv.visualize`: matplotlib loaded on demand (no pyplot,
no global state), figures on the Agg canvas, file-path checks, and the two layout helpers
(a mosaic of image tiles inside one axes; a page of blocks stacked top to bottom)."""
import os

import numpy as np

MATPLOTLIB_MISSING = ("fastconv.visualize needs matplotlib to draw pictures: "
                      "pip install 'fastconv[plot]' (or pip install matplotlib)")

#: figure width in inches and resolution: 11 in x 100 dpi = 1100 px wide
WIDTH_IN = 11.0
DPI = 100
FILTER_CMAP = "RdBu_r"
MAP_CMAP = "inferno"


def mpl():
    """(Figure, FigureCanvasAgg, MaxNLocator), or ImportError with the install hint."""
    try:
        import matplotlib  # noqa: F401  (first, so a blocked top-level package is noticed)
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ImportError(MATPLOTLIB_MISSING) from exc
    return Figure, FigureCanvasAgg, MaxNLocator


def new_figure(width, height, layout="constrained"):
    Figure, FigureCanvasAgg, _ = mpl()
    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def check_path(path, what="path"):
    """A writable file path (str or os.PathLike) whose directory exists -> str."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a file path (str or os.PathLike), got {path!r}")
    p = os.fspath(path)
    if not p:
        raise ValueError(f"{what} must not be empty")
    if os.path.isdir(p):
        raise ValueError(f"{what} {p!r} is a directory; give a file name such as "
                         f"{os.path.join(p, 'picture.png')!r}")
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(parent):
        raise ValueError(f"{what} {p!r}: directory {parent!r} does not exist")
    ext = os.path.splitext(p)[1].lower().lstrip(".")
    if ext and ext not in ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "webp", "tif",
                           "tiff", "pgf", "raw", "rgba", "svgz"):
        raise ValueError(f"{what} {p!r}: unsupported picture format {ext!r}; use .png, .pdf "
                         "or .svg")
    return p


def save(fig, path):
    """Write the figure (PNG unless the name says otherwise) and release it."""
    try:
        fmt = None if os.path.splitext(path)[1] else "png"
        fig.savefig(path, dpi=DPI, format=fmt, facecolor="white")
    finally:
        fig.clear()
    return path


class Mosaic:
    """Tiles on a grid inside ONE axes (one axes per block keeps drawing fast).

    Tile (r, c) occupies a unit-wide cell; ``aspect`` = tile height / width; ``gx``/``gy`` are
    the gaps (in tile widths) between columns / above each row (room for a label)."""

    def __init__(self, rows, cols, aspect, gx=0.12, gy=0.3, left_label=0.0):
        self.rows, self.cols, self.aspect = rows, cols, aspect
        self.gx, self.gy, self.left = gx, gy, left_label

    def size(self, unit):
        """(width, height) in inches for a tile width of ``unit`` inches."""
        w = self.left + self.cols * (1 + self.gx) - self.gx
        h = self.rows * (self.aspect + self.gy)
        return w * unit, h * unit

    def cell(self, r, c):
        x0 = self.left + c * (1 + self.gx)
        y0 = r * (self.aspect + self.gy) + self.gy
        return x0, y0

    def setup(self, ax):
        w = self.left + self.cols * (1 + self.gx) - self.gx
        ax.set_xlim(0, w)
        ax.set_ylim(self.rows * (self.aspect + self.gy), 0)
        ax.set_aspect("equal")
        ax.set_axis_off()

    def draw(self, ax, r, c, img, label=None, fontsize=7, **kw):
        x0, y0 = self.cell(r, c)
        im = ax.imshow(img, extent=(x0, x0 + 1, y0 + self.aspect, y0),
                       interpolation="nearest", **kw)
        if label is not None:
            ax.text(x0 + 0.5, y0 - 0.04, label, ha="center", va="bottom", fontsize=fontsize)
        return im

    def outline(self, ax, r, c, ink, linewidth=0.7):
        """The half-maximum contour of ``ink`` (values in [0, 1]) over tile (r, c)."""
        if min(ink.shape) < 2 or not (ink.min() < 0.5 < ink.max()):
            return
        x0, y0 = self.cell(r, c)
        hh, ww = ink.shape
        ax.contour(x0 + (np.arange(ww) + 0.5) / ww,
                   y0 + (np.arange(hh) + 0.5) / hh * self.aspect, ink, levels=[0.5],
                   colors="cyan", linewidths=linewidth, alpha=0.85)


class Page:
    """Stack blocks top to bottom with sizes in inches; positions are set at the end."""

    def __init__(self, width=WIDTH_IN):
        self.width = width
        self.items = []       # (height in inches, draw(fig, add_axes))

    def add(self, height, draw):
        self.items.append((height, draw))

    def render(self, title=None, title_size=14):
        top = 0.15 + 0.28 * (title.count("\n") + 1) if title else 0.15
        height = top + sum(h for h, _ in self.items) + 0.15
        fig = new_figure(self.width, height, layout=None)
        if title:
            fig.suptitle(title, fontsize=title_size, fontweight="bold", y=1 - 0.12 / height,
                         va="top")
        y = height - top
        for h, draw in self.items:
            y -= h
            draw(fig, lambda l, b, w, hh: fig.add_axes(
                [l / self.width, (y + b) / height, w / self.width, hh / height]))
        return fig
