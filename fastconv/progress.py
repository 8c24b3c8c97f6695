"""A small, dependency-free progress bar for training (Keras-like output).

``verbose=0``: silent.  ``verbose=1``: a live bar redrawn in place (``\\r``) when the stream
is a terminal, otherwise (a log file, a pipe, CI) just one summary line per epoch.
``verbose=2``: one summary line per epoch, always.  Redraws are throttled (``interval``
seconds) so the bar costs nothing measurable per batch.

    32/45 [=====================>........] 0.4s 3,512 img/s - loss: 0.4321 - accuracy: 0.8765
"""
import sys
import time

__all__ = ["ProgressBar", "format_values"]


def format_values(values):
    """' - loss: 0.1234 - accuracy: 0.9876' from a dict (insertion order)."""
    parts = []
    for k, v in values.items():
        if v is None:
            continue
        if isinstance(v, float) and abs(v) < 1e-3 and v != 0.0:
            parts.append(f"{k}: {v:.4e}")
        else:
            parts.append(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    return "".join(f" - {p}" for p in parts)


def _stream_is_tty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class ProgressBar:
    """Progress over ``target`` steps (batches) of one epoch.

    ``update(step, values, images)`` after each step (``images``: how many images so far);
    ``finish(values)`` at the end prints the final line with its newline.
    """

    def __init__(self, target, verbose=1, width=30, stream=None, interval=0.1):
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        self.target = max(int(target), 0)
        self.verbose = verbose
        self.width = int(width)
        self.stream = sys.stdout if stream is None else stream
        self.interval = float(interval)
        self.live = verbose == 1 and _stream_is_tty(self.stream)
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_len = 0
        self.step = 0
        self.images = 0

    @property
    def enabled(self):
        return self.verbose != 0

    def elapsed(self):
        return time.perf_counter() - self.start

    def _line(self, step, values, images):
        elapsed = self.elapsed()
        n = len(str(self.target))
        if self.target:
            done = int(self.width * min(step, self.target) / self.target)
            bar = "=" * done
            if done < self.width:
                bar = (bar[:-1] + ">" if done else ">") + "." * (self.width - done - 1)
                bar = bar[:self.width]
        else:
            bar = "." * self.width
        rate = images / elapsed if elapsed > 0 else 0.0
        return (f"{step:>{n}}/{self.target} [{bar}] {elapsed:.1f}s {rate:,.0f} img/s"
                f"{format_values(values or {})}")

    def update(self, step, values=None, images=None):
        self.step = step
        if images is not None:
            self.images = images
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.interval and step < self.target:
            return
        self._last_draw = now
        self._draw(self._line(step, values, self.images))

    def _draw(self, line):
        pad = max(self._last_len - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._last_len = len(line)

    def finish(self, values=None, images=None, note=""):
        """Print the epoch's final line (all modes but verbose=0)."""
        if images is not None:
            self.images = images
        if not self.enabled:
            return
        line = self._line(self.step, values, self.images) + note
        if self.live:
            self._draw(line)
            self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
