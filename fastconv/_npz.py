"""Bounds on an untrusted ``.npz`` archive, checked before NumPy reads any member.

``np.load`` allocates each array at the size its ``.npy`` header declares and inflates a
deflated member to whatever it expands to, before the caller can compare anything with
its own records: a 1.1 MB model file with one deflated member made the loader take 1 GB
and 4.6 s before its checksum failed. fastconv writes its archives with ``np.savez``
(every member stored), so the readers of model files and checkpoints accept only that.
"""
import math
import zipfile

from numpy.lib import format as npy_format

_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0,
                   (2, 0): npy_format.read_array_header_2_0}


def check_members(zf, size):
    """Raise ``ValueError`` saying what is wrong unless every member of the open
    ``zipfile.ZipFile`` (an archive of ``size`` bytes) is stored uncompressed, the members
    together fit in the archive, and each is an ``.npy`` array whose header declares no
    more data than the member holds: what is then read and allocated is bounded by the
    file's own size."""
    infos = zf.infolist()
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"member {info.filename!r} is compressed (fastconv writes its "
                             "archives uncompressed; a compressed member can inflate far "
                             "beyond the file)")
    if sum(info.file_size for info in infos) > size:
        raise ValueError(f"its members hold more bytes than the {size}-byte file")
    for info in infos:
        try:
            with zf.open(info) as f:
                version = npy_format.read_magic(f)
                read = _HEADER_READERS.get(version)
                if read is None:
                    raise ValueError(f".npy format version {version}")
                shape, _, dtype = read(f)
        except Exception as e:   # whatever a malformed member makes zipfile or numpy raise
            raise ValueError(f"member {info.filename!r} is not a readable array "
                             f"({type(e).__name__}: {e})") from None
        need = math.prod(shape) * dtype.itemsize
        if need > info.file_size:
            raise ValueError(f"member {info.filename!r} declares {need} bytes of data but "
                             f"holds {info.file_size}")
