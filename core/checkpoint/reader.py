"""Read what is inside a checkpoint without torch and without running anything from it.

``read_checkpoint(path)`` returns a ``ModelInfo``: the module tree, every parameter in
``named_parameters()`` order, buffers, the YAML's layers, metadata and every global the file
names. Containers: torch zip files (any top-level folder), torch's legacy format, safetensors.

The steps import downwards only: this module reads a container into a ``RawCheckpoint``,
``interpret`` turns that into a ``ModelInfo``, and both take their types from ``model`` and
tensor bytes from ``storage``. The model types and ``read_tensor_bytes`` are re-exported here, so
``from ...checkpoint.reader import ModelInfo, read_tensor_bytes`` keeps working.
"""

from __future__ import annotations

import contextlib
import json
import lzma
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from yolofreeze.core.checkpoint.interpret import extract_model
from yolofreeze.core.checkpoint.model import (
    LayerInfo,
    Metadata,
    ModelInfo,
    ModuleNode,
    RawCheckpoint,
    TensorInfo,
    TensorLocation,
)
from yolofreeze.core.checkpoint.safepickle import (
    DTYPE_SIZES,
    MAX_PICKLE_BYTES,
    NumpyValue,
    PickleBudget,
    PickleScan,
    PickleScanError,
    StorageMeta,
    Stub,
    TensorMeta,
    scan_pickle,
    storage_type_of,
)
from yolofreeze.core.checkpoint.storage import READ_ERRORS, read_tensor_bytes
from yolofreeze.core.errors import CheckpointError, HostileCheckpointError
from yolofreeze.core.safeio import UnsafePathError, open_regular

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "U16": "uint16",
    "U32": "uint32",
    "U64": "uint64",
}
MAX_SAFETENSORS_HEADER = 16 * 1024 * 1024  # JSON; real files: ~100 KB


# ---------------------------------------------------------------------------------------------
# containers


class _Seen:
    """Globals from every pickle of one file, kept even when a later step fails."""

    def __init__(self) -> None:
        self.globals: dict[str, None] = {}
        self.suspicious: dict[str, None] = {}
        self.budget = PickleBudget()
        self.pickle_bytes = 0

    def add(self, scan: PickleScan) -> None:
        self.globals.update(dict.fromkeys(scan.globals_seen))
        self.suspicious.update(dict.fromkeys(scan.suspicious))

    def scan(
        self, data: bytes, lookup: Callable[[tuple[Any, ...]], StorageMeta] | None = None, offset: int = 0
    ) -> tuple[PickleScan, int]:
        try:
            scan, end = scan_pickle(data, lookup, self.budget, offset)
        except PickleScanError as e:
            self.suspicious.update(dict.fromkeys(e.suspicious))
            raise
        self.add(scan)
        return scan, end


_DIR_MESSAGE = "is a directory, not a checkpoint file"


def read_checkpoint(path: str | os.PathLike[str]) -> ModelInfo:
    """Read a checkpoint's structure. Raises CheckpointError for anything unreadable."""
    p = Path(path)
    seen = _Seen()
    f = _open_checkpoint(p)
    try:
        with f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise CheckpointError(f"{p}: empty file, not a checkpoint")
            raw = _read_container(p, f, size, seen)
            return extract_model(p, size, raw, [])
    except (PickleScanError, CheckpointError) as e:
        if seen.suspicious and not isinstance(e, HostileCheckpointError):
            names = ", ".join(list(seen.suspicious)[:5])
            raise HostileCheckpointError(
                f"{p}: hostile: references code that could run when loaded ({names}); no model could be read from it"
            ) from None
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{p}: not a readable checkpoint ({_short(e)})") from None
    except RecursionError:
        raise CheckpointError(f"{p}: nesting too deep to be a model checkpoint") from None
    except MemoryError:
        raise CheckpointError(f"{p}: structure too large to read safely") from None
    except READ_ERRORS as e:
        if seen.suspicious:
            names = ", ".join(list(seen.suspicious)[:5])
            raise HostileCheckpointError(
                f"{p}: hostile: references code that could run when loaded ({names}); no model could be read from it"
            ) from None
        raise CheckpointError(f"{p}: not a readable checkpoint ({_short(e)})") from None
    except OSError as e:
        raise CheckpointError(f"{p}: cannot read: {e.strerror or e}") from None


def _open_checkpoint(p: Path) -> BinaryIO:
    """The file, opened as a regular file (no FIFO, device or directory), or one clear error."""
    try:
        return open_regular(p)
    except FileNotFoundError:
        raise CheckpointError(f"{p}: no such file") from None
    except UnsafePathError as e:
        if p.is_dir():
            raise CheckpointError(f"{p}: {_DIR_MESSAGE}") from None
        raise CheckpointError(f"{p}: {e.strerror}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{p}: {_DIR_MESSAGE}") from None
    except OSError as e:
        raise CheckpointError(f"{p}: cannot read: {e.strerror or e}") from None


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:120]


def _read_container(p: Path, f: BinaryIO, size: int, seen: _Seen) -> RawCheckpoint:
    head = f.read(16)
    f.seek(0)
    if head[:4] == b"PK\x03\x04":
        return _read_zip(p, f, seen)
    if len(head) >= 8:
        (hlen,) = struct.unpack("<Q", head[:8])
        if 2 <= hlen <= min(size - 8, MAX_SAFETENSORS_HEADER) and head[8:9] == b"{":
            return _read_safetensors(p, f, hlen, size)
    if head[:1] == b"\x80":
        return _read_legacy(p, f, size, seen)
    raise CheckpointError(f"{p}: not a checkpoint (no torch zip, legacy torch or safetensors header)")


_ZIP_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}


def _read_member(p: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A zip entry's bytes, decompressed as a stream that stops at ``limit``.

    The header's sizes are not trusted: zipfile stops at the declared size, and this stops at
    the budget whatever the header says, so a small deflated bomb costs at most ``limit`` bytes.
    """
    if info.flag_bits & 0x1:
        raise CheckpointError(f"{p}: {info.filename} is encrypted; torch checkpoints never are")
    if info.compress_type not in _ZIP_METHODS:
        raise CheckpointError(
            f"{p}: {info.filename} uses zip compression method {info.compress_type}, which torch checkpoints never use"
        )
    if info.file_size > limit:
        raise CheckpointError(
            f"{p}: {info.filename} is {info.file_size:,} bytes uncompressed; too large to be checkpoint metadata"
        )
    chunks: list[bytes] = []
    got = 0
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(min(1 << 20, limit + 1 - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
                if got > limit:
                    raise CheckpointError(
                        f"{p}: {info.filename} inflates past {limit:,} bytes; too large to be checkpoint metadata"
                    )
    except (zlib.error, lzma.LZMAError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(
            f"{p}: {info.filename}: corrupt {_ZIP_METHODS[info.compress_type]} data ({_short(e)})"
        ) from None
    except OSError as e:  # bz2 reports corrupt data as OSError
        raise CheckpointError(
            f"{p}: {info.filename}: corrupt {_ZIP_METHODS[info.compress_type]} data ({_short(e)})"
        ) from None
    return b"".join(chunks)


def _lenient_lookup(pid: tuple[Any, ...]) -> StorageMeta:
    return StorageMeta("?", "uint8", 1, 0, "?")


def _read_zip(p: Path, f: BinaryIO, seen: _Seen) -> RawCheckpoint:
    with zipfile.ZipFile(f) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        pkls = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        # Every pickle in the archive is scanned for what torch.load could run, even the ones
        # our reader does not need (another folder's data.pkl, a TorchScript constants.pkl).
        for name in [n for n in infos if n.endswith(".pkl") and n not in pkls[:1]]:
            blob = _read_member(p, zf, infos[name], MAX_PICKLE_BYTES - seen.pickle_bytes)
            seen.pickle_bytes += len(blob)
            with contextlib.suppress(PickleScanError, RecursionError, MemoryError, *READ_ERRORS):
                seen.scan(blob, _lenient_lookup)
        if not pkls:
            if any(n.endswith("constants.pkl") for n in infos):
                raise CheckpointError(f"{p}: a TorchScript archive, not a training checkpoint")
            raise CheckpointError(f"{p}: a zip file without data.pkl, not a torch checkpoint")
        if len(pkls) > 1:
            raise CheckpointError(f"{p}: several data.pkl entries; ambiguous archive")
        prefix = pkls[0][: -len("data.pkl")]
        data = _read_member(p, zf, infos[pkls[0]], MAX_PICKLE_BYTES - seen.pickle_bytes)
        seen.pickle_bytes += len(data)
        bo = infos.get(prefix + "byteorder")
        if bo is not None and _read_member(p, zf, bo, 16).strip() == b"big":
            raise CheckpointError(f"{p}: big-endian checkpoints are not supported")
        locations: dict[str, tuple[str | None, int, int]] = {}

        def lookup(pid: tuple[Any, ...]) -> StorageMeta:
            if len(pid) != 5:
                raise pickle.UnpicklingError("malformed storage reference")
            _, stype, key, location, numel = pid
            dtype, itemsize = storage_type_of(stype)
            key = str(key)
            member = f"{prefix}data/{key}"
            entry = infos.get(member)
            if entry is None:
                raise pickle.UnpicklingError(f"storage {key[:40]} missing from archive")
            if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0 or numel * itemsize > entry.file_size:
                raise pickle.UnpicklingError(f"storage {key[:40]} claims more bytes than the archive holds")
            locations[key] = (member, 0, entry.file_size)
            return StorageMeta(key, dtype, itemsize, numel, str(location))

        scan, _ = seen.scan(data, lookup)
    return RawCheckpoint(scan.root, list(seen.globals), list(seen.suspicious), "zip", locations=locations)


def _read_legacy(p: Path, f: BinaryIO, size: int, seen: _Seen) -> RawCheckpoint:
    # torch's legacy loader unpickles five pickles in a row with full pickle: the magic number,
    # the protocol version, sys_info, the object and the storage keys. Each is scanned.
    data = f.read(min(size, MAX_PICKLE_BYTES))
    magic, pos = seen.scan(data)
    if magic.root != LEGACY_MAGIC:
        raise CheckpointError(f"{p}: a pickle file, but not a torch checkpoint")
    proto, pos = seen.scan(data, offset=pos)
    if proto.root != 1001:
        raise CheckpointError(f"{p}: unsupported legacy torch format version {str(proto.root)[:20]}")
    _, pos = seen.scan(data, offset=pos)  # sys_info
    declared: dict[str, StorageMeta] = {}

    def lookup(pid: tuple[Any, ...]) -> StorageMeta:
        if len(pid) != 6:
            raise pickle.UnpicklingError("malformed storage reference")
        _, stype, key, location, numel, _view = pid
        dtype, itemsize = storage_type_of(stype)
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0 or numel * itemsize > size:
            raise pickle.UnpicklingError("storage claims more bytes than the file holds")
        meta = declared.get(str(key))
        if meta is None:
            meta = StorageMeta(str(key), dtype, itemsize, numel, str(location))
            declared[str(key)] = meta
        return meta

    obj, pos = seen.scan(data, lookup, offset=pos)
    keys_scan, pos = seen.scan(data, offset=pos)
    keys = keys_scan.root
    if not isinstance(keys, list):
        raise CheckpointError(f"{p}: legacy checkpoint without a storage table")
    locations = _legacy_storages(p, f, size, keys, declared, pos)
    return RawCheckpoint(obj.root, list(seen.globals), list(seen.suspicious), "legacy", locations=locations)


def _legacy_storages(
    p: Path, f: BinaryIO, size: int, keys: list[Any], declared: dict[str, StorageMeta], pos: int
) -> dict[str, tuple[str | None, int, int]]:
    """Where each storage's bytes are: after the pickles, one (count, bytes) record per key, in order."""
    locations: dict[str, tuple[str | None, int, int]] = {}
    for key in keys:
        meta = declared.get(str(key))
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) != 8:
            raise CheckpointError(f"{p}: truncated (storage data missing)")
        (count,) = struct.unpack("<q", hdr)
        itemsize = meta.itemsize if meta else 1
        nbytes = count * itemsize
        if count < 0 or pos + 8 + nbytes > size:
            raise CheckpointError(f"{p}: truncated (storage {str(key)[:40]} runs past the end)")
        if meta is not None and count < meta.numel:
            raise CheckpointError(f"{p}: storage {str(key)[:40]} holds fewer elements than the pickle says")
        locations[str(key)] = (None, pos + 8, nbytes)
        pos += 8 + nbytes
    missing = set(declared) - set(locations)
    if missing:
        raise CheckpointError(f"{p}: truncated ({len(missing)} storages missing)")
    return locations


MAX_NAME_DEPTH = 64  # dots in one tensor name; real models nest under 12 deep


def _strict_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _read_safetensors(p: Path, f: BinaryIO, hlen: int, size: int) -> RawCheckpoint:
    f.seek(8)
    header = json.loads(f.read(hlen))
    if not isinstance(header, dict):
        raise CheckpointError(f"{p}: safetensors header is not an object")
    flat: dict[str, TensorMeta] = {}
    locations: dict[str, tuple[str | None, int, int]] = {}
    base = 8 + hlen
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        short = name[:60]
        if not isinstance(spec, dict):
            raise CheckpointError(f"{p}: malformed safetensors entry {short!r}")
        if name.count(".") > MAX_NAME_DEPTH:
            raise CheckpointError(f"{p}: tensor name {short!r}… nests {name.count('.')} levels; too deep to be a model")
        dtype = _SAFETENSORS_DTYPES.get(str(spec.get("dtype")))
        shape = spec.get("shape")
        offs = spec.get("data_offsets")
        if (
            dtype is None
            or not isinstance(shape, list)
            or len(shape) > 64
            or not all(_strict_int(s) and s >= 0 for s in shape)
            or not isinstance(offs, list)
            or len(offs) != 2
            or not all(_strict_int(o) for o in offs)
        ):
            raise CheckpointError(f"{p}: malformed safetensors entry {short!r}")
        start, end = offs
        numel = 1
        for s in shape:
            numel *= s
        if start < 0 or end < start or base + end > size or end - start != numel * DTYPE_SIZES[dtype]:
            raise CheckpointError(f"{p}: safetensors entry {short!r} has impossible offsets")
        st = StorageMeta(name, dtype, DTYPE_SIZES[dtype], numel, "cpu")
        strides, acc = [], 1
        for s in reversed(shape):
            strides.append(acc)
            acc *= s
        flat[name] = TensorMeta(st, 0, tuple(shape), tuple(reversed(strides)), dtype)
        locations[name] = (None, base + start, end - start)
    return RawCheckpoint(None, [], [], "safetensors", flat=flat, locations=locations)


__all__ = [
    "LayerInfo",
    "Metadata",
    "ModelInfo",
    "ModuleNode",
    "NumpyValue",
    "Stub",
    "TensorInfo",
    "TensorLocation",
    "read_checkpoint",
    "read_tensor_bytes",
]
