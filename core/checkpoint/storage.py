"""A tensor's bytes, read on demand from where the reader found them, and the errors damaged bytes raise.

The first screen never reads tensor bytes; the launcher (to rebuild train.py's input) and the
verifier do. This module sits below both the reader and the interpretation, so either may use it
without importing the other.
"""

from __future__ import annotations

import lzma
import os
import pickle
import struct
import zipfile
import zlib

from yolofreeze.core.checkpoint.model import TensorInfo
from yolofreeze.core.errors import CheckpointError
from yolofreeze.core.safeio import open_regular

# What damaged or hostile bytes make the parsers raise (zipfile: encrypted entries raise
# RuntimeError, unknown methods NotImplementedError; zlib/lzma/bz2 their own errors).
READ_ERRORS: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    struct.error,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    OverflowError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
)


def read_tensor_bytes(path: str | os.PathLike[str], t: TensorInfo) -> bytes:
    """The raw bytes of a tensor's whole storage (the caller applies offset and stride)."""
    if t.location is None:
        raise CheckpointError(f"{path}: tensor {t.name} has no stored data")
    loc = t.location
    with open_regular(path) as f:
        if loc.member is not None:
            with zipfile.ZipFile(f) as zf, zf.open(loc.member) as fh:
                data = fh.read(loc.storage_nbytes)
        else:
            f.seek(loc.data_start)
            data = f.read(loc.storage_nbytes)
    if len(data) != loc.storage_nbytes:
        raise CheckpointError(f"{path}: tensor {t.name} is truncated")
    return data
