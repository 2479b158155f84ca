"""Read what is inside a checkpoint without torch and without running anything from it.

``read_checkpoint(path)`` returns a ``ModelInfo``: the module tree, every parameter in
``named_parameters()`` order, buffers, the YAML's layers, metadata and every global the file
names. Containers: torch zip files (any top-level folder), torch's legacy format, safetensors.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from yolofreeze.core.checkpoint.safepickle import (
    DTYPE_SIZES,
    MAX_PICKLE_BYTES,
    NumpyValue,
    PickleScanError,
    StorageMeta,
    Stub,
    TensorMeta,
    scan_pickle,
    storage_type_of,
)
from yolofreeze.core.errors import CheckpointError, HostileCheckpointError

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
_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked", "anchors", "anchor_grid")
MAX_SAFETENSORS_HEADER = 64 * 1024 * 1024


@dataclass(frozen=True)
class TensorLocation:
    """Where a tensor's bytes are: a file region, read on demand (the launcher needs them)."""

    member: str | None  # zip entry name, or None for a plain file region
    data_start: int  # byte offset of the storage (legacy/safetensors) within the file or member
    storage_nbytes: int
    storage_dtype: str
    offset: int  # element offset into the storage
    stride: tuple[int, ...]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    numel: int
    nbytes: int
    location: TensorLocation | None = None


@dataclass(frozen=True)
class ModuleNode:
    path: str  # "" for the root, then "model", "model.0", "model.0.conv" ...
    type: str  # class name, e.g. "Conv"
    qualname: str  # e.g. "models.common.Conv"
    children: tuple[str, ...]  # child module paths, in order
    parameters: tuple[str, ...]  # full names of this module's own parameters


@dataclass(frozen=True)
class LayerInfo:
    """One top-level layer (``model.<index>.``), with what the YAML says of it."""

    index: int
    type: str
    from_: tuple[int, ...]
    repeats: int
    args: tuple[Any, ...]
    section: str  # "backbone", "head" or "" when no YAML
    prefix: str  # "model.<index>."


@dataclass(frozen=True)
class Metadata:
    epoch: int | None = None
    nc: int | None = None
    names: tuple[str, ...] = ()
    stride: tuple[float, ...] = ()
    date: str | None = None
    training_options: dict[str, Any] = field(default_factory=dict)
    has_optimizer: bool = False
    has_ema: bool = False
    top_level_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    path: str
    file_size: int
    container: str  # "zip", "legacy", "safetensors"
    kind: str  # "yolov5", "ultralytics", "state_dict", "unknown"
    source: str  # where the network was found: "model", "ema", "state_dict", ...
    model_class: str
    modules: tuple[ModuleNode, ...]
    parameters: tuple[TensorInfo, ...]
    buffers: tuple[TensorInfo, ...]
    layers: tuple[LayerInfo, ...]
    yaml: dict[str, Any] | None
    metadata: Metadata
    globals: tuple[str, ...]
    suspicious: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def hostile(self) -> bool:
        return bool(self.suspicious)

    @property
    def total_params(self) -> int:
        return sum(p.numel for p in self.parameters)

    @property
    def backbone_layers(self) -> int | None:
        """Number of backbone layers (10 for P5, 12 for P6), from the YAML when present."""
        if self.yaml and isinstance(self.yaml.get("backbone"), list):
            return len(self.yaml["backbone"])
        for layer in self.layers:  # no YAML: the backbone ends with the SPP(F) block
            if layer.type in ("SPPF", "SPP"):
                return layer.index + 1
        return None

    @cached_property
    def modules_by_path(self) -> dict[str, ModuleNode]:
        return {m.path: m for m in self.modules}

    @cached_property
    def subtree_parameters(self) -> dict[str, tuple[str, ...]]:
        """Every module path to the names of all parameters under it, in model order."""
        out: dict[str, list[str]] = {m.path: [] for m in self.modules}
        for p in self.parameters:
            parts = p.name.split(".")
            for i in range(len(parts)):
                path = ".".join(parts[:i])
                if path in out:
                    out[path].append(p.name)
        return {k: tuple(v) for k, v in out.items()}

    def module(self, path: str) -> ModuleNode | None:
        return self.modules_by_path.get(path)

    def require_safe(self, action: str) -> None:
        if self.hostile:
            names = ", ".join(self.suspicious[:5])
            raise HostileCheckpointError(
                f"{self.path}: refusing to {action}: the file references code that could run when loaded ({names})"
            )

    def sha256(self) -> str:
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# containers


@dataclass
class _Raw:
    root: Any
    globals_seen: list[str]
    suspicious: list[str]
    container: str
    # for safetensors: flat name -> TensorMeta
    flat: dict[str, TensorMeta] | None = None
    locations: dict[str, tuple[str | None, int, int]] = field(default_factory=dict)


def read_checkpoint(path: str | os.PathLike[str]) -> ModelInfo:
    """Read a checkpoint's structure. Raises CheckpointError for anything unreadable."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise CheckpointError(f"{p}: no such file") from None
    except OSError as e:
        raise CheckpointError(f"{p}: cannot read: {e.strerror or e}") from None
    if p.is_dir():
        raise CheckpointError(f"{p}: is a directory, not a checkpoint file")
    if st.st_size == 0:
        raise CheckpointError(f"{p}: empty file, not a checkpoint")
    try:
        raw = _read_container(p, st.st_size)
        try:
            return _interpret(p, st.st_size, raw)
        except CheckpointError as e:
            if raw.suspicious:
                raise PickleScanError(e, raw.suspicious) from None
            raise
    except PickleScanError as e:
        names = ", ".join(e.suspicious[:5])
        raise HostileCheckpointError(
            f"{p}: hostile: references code that could run when loaded ({names}); no model could be read from it"
        ) from None
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError(f"{p}: nesting too deep to be a model checkpoint") from None
    except MemoryError:
        raise CheckpointError(f"{p}: structure too large to read safely") from None
    except (
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
    ) as e:
        raise CheckpointError(f"{p}: not a readable checkpoint ({_short(e)})") from None
    except OSError as e:
        raise CheckpointError(f"{p}: cannot read: {e.strerror or e}") from None


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:120]


def _read_container(p: Path, size: int) -> _Raw:
    with open(p, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        return _read_zip(p)
    if len(head) >= 8:
        (hlen,) = struct.unpack("<Q", head[:8])
        if 2 <= hlen <= min(size - 8, MAX_SAFETENSORS_HEADER) and head[8:9] == b"{":
            return _read_safetensors(p, hlen, size)
    if head[:1] == b"\x80":
        return _read_legacy(p, size)
    raise CheckpointError(f"{p}: not a checkpoint (no torch zip, legacy torch or safetensors header)")


def _read_zip(p: Path) -> _Raw:
    with zipfile.ZipFile(p) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        pkls = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkls:
            if any(n.endswith("constants.pkl") for n in infos):
                raise CheckpointError(f"{p}: a TorchScript archive, not a training checkpoint")
            raise CheckpointError(f"{p}: a zip file without data.pkl, not a torch checkpoint")
        if len(pkls) > 1:
            raise CheckpointError(f"{p}: several data.pkl entries; ambiguous archive")
        prefix = pkls[0][: -len("data.pkl")]
        pinfo = infos[pkls[0]]
        if pinfo.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(f"{p}: data.pkl is {pinfo.file_size} bytes; too large to be metadata")
        with zf.open(pinfo) as fh:
            data = fh.read(MAX_PICKLE_BYTES + 1)
        if len(data) > MAX_PICKLE_BYTES:
            raise CheckpointError(f"{p}: data.pkl too large to be metadata")
        bo = infos.get(prefix + "byteorder")
        if bo is not None and bo.file_size < 16 and zf.read(bo).strip() == b"big":
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
                raise pickle.UnpicklingError(f"storage {key} missing from archive")
            if not isinstance(numel, int) or numel < 0 or numel * itemsize > entry.file_size:
                raise pickle.UnpicklingError(f"storage {key} claims more bytes than the archive holds")
            locations[key] = (member, 0, entry.file_size)
            return StorageMeta(key, dtype, itemsize, numel, str(location))

        scan, _ = scan_pickle(data, lookup)
    return _Raw(scan.root, scan.globals_seen, scan.suspicious, "zip", locations=locations)


def _read_legacy(p: Path, size: int) -> _Raw:
    with open(p, "rb") as f:
        magic, _ = scan_pickle(f)
        if magic.root != LEGACY_MAGIC:
            raise CheckpointError(f"{p}: a pickle file, but not a torch checkpoint")
        proto, _ = scan_pickle(f)
        if proto.root != 1001:
            raise CheckpointError(f"{p}: unsupported legacy torch format version {proto.root!r}")
        scan_pickle(f)  # sys_info
        declared: dict[str, StorageMeta] = {}

        def lookup(pid: tuple[Any, ...]) -> StorageMeta:
            if len(pid) != 6:
                raise pickle.UnpicklingError("malformed storage reference")
            _, stype, key, location, numel, _view = pid
            dtype, itemsize = storage_type_of(stype)
            if not isinstance(numel, int) or numel < 0 or numel * itemsize > size:
                raise pickle.UnpicklingError("storage claims more bytes than the file holds")
            meta = declared.get(str(key))
            if meta is None:
                meta = StorageMeta(str(key), dtype, itemsize, numel, str(location))
                declared[str(key)] = meta
            return meta

        obj = scan_pickle(f, lookup)[0]
        keys_scan, _ = scan_pickle(f)
        keys = keys_scan.root
        if not isinstance(keys, list):
            raise CheckpointError(f"{p}: legacy checkpoint without a storage table")
        locations: dict[str, tuple[str | None, int, int]] = {}
        pos = f.tell()
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
                raise CheckpointError(f"{p}: truncated (storage {key} runs past the end)")
            locations[str(key)] = (None, pos + 8, nbytes)
            pos += 8 + nbytes
    missing = set(declared) - set(locations)
    if missing:
        raise CheckpointError(f"{p}: truncated ({len(missing)} storages missing)")
    return _Raw(obj.root, obj.globals_seen, obj.suspicious, "legacy", locations=locations)


def _read_safetensors(p: Path, hlen: int, size: int) -> _Raw:
    with open(p, "rb") as f:
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
        if not isinstance(spec, dict):
            raise CheckpointError(f"{p}: malformed safetensors entry {name!r}")
        dtype = _SAFETENSORS_DTYPES.get(str(spec.get("dtype")))
        shape = spec.get("shape")
        offs = spec.get("data_offsets")
        if dtype is None or not isinstance(shape, list) or not isinstance(offs, list) or len(offs) != 2:
            raise CheckpointError(f"{p}: malformed safetensors entry {name!r}")
        start, end = int(offs[0]), int(offs[1])
        numel = 1
        for s in shape:
            numel *= int(s)
        if start < 0 or end < start or base + end > size or end - start != numel * DTYPE_SIZES[dtype]:
            raise CheckpointError(f"{p}: safetensors entry {name!r} has impossible offsets")
        st = StorageMeta(name, dtype, DTYPE_SIZES[dtype], numel, "cpu")
        strides, acc = [], 1
        for s in reversed(shape):
            strides.append(acc)
            acc *= int(s)
        flat[name] = TensorMeta(st, 0, tuple(int(s) for s in shape), tuple(reversed(strides)), dtype)
        locations[name] = (None, base + start, end - start)
    return _Raw(None, [], [], "safetensors", flat=flat, locations=locations)


# ---------------------------------------------------------------------------------------------
# interpretation


def _interpret(p: Path, size: int, raw: _Raw) -> ModelInfo:
    from yolofreeze.core.checkpoint.interpret import extract_model

    warnings: list[str] = []
    return extract_model(p, size, raw, warnings)


def tensor_info(name: str, t: TensorMeta, raw_locations: dict[str, tuple[str | None, int, int]]) -> TensorInfo:
    loc = None
    if t.storage is not None and t.storage.key in raw_locations:
        member, start, nbytes = raw_locations[t.storage.key]
        loc = TensorLocation(member, start, nbytes, t.storage.dtype, t.offset, t.stride)
    return TensorInfo(name, t.shape, t.dtype, t.numel, t.nbytes, loc)


def read_tensor_bytes(path: str | os.PathLike[str], t: TensorInfo) -> bytes:
    """The raw bytes of a tensor's whole storage (the caller applies offset and stride)."""
    if t.location is None:
        raise CheckpointError(f"{path}: tensor {t.name} has no stored data")
    loc = t.location
    if loc.member is not None:
        with zipfile.ZipFile(path) as zf, zf.open(loc.member) as fh:
            data = fh.read(loc.storage_nbytes)
    else:
        with open(path, "rb") as f:
            f.seek(loc.data_start)
            data = f.read(loc.storage_nbytes)
    if len(data) != loc.storage_nbytes:
        raise CheckpointError(f"{path}: tensor {t.name} is truncated")
    return data


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
