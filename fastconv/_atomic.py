"""Write a file atomically: to a temporary file in the same directory, flushed and fsynced,
then renamed over the target (and the directory entry fsynced), so a crash or a kill never
leaves a half-written file under the target's name."""
import os
import tempfile

__all__ = ["atomic_write"]


def _fsync_directory(directory):
    try:  # make the rename durable (best effort; not possible on every platform)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write(path, write, prefix=None):
    """Call ``write(binary_file)`` on a temporary file, then move it to ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = prefix if prefix is not None else "." + os.path.basename(path) + "."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)  # mkstemp makes the file private; give it the usual mode
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
