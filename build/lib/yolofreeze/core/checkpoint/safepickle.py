"""A pickle reader that never imports or runs anything named in the file.

Every global the pickle names goes through ``find_class``. A short allowlist maps torch's tensor
rebuilders, storage classes and a few plain containers to pure-Python builders that record
metadata; every other name becomes an inert ``Stub`` subclass that records the arguments it was
called with and the state it was given. Names that could run code when loaded by a real
unpickler are collected as *suspicious*; nothing is ever executed either way.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

# dtype name, element size in bytes, for torch's legacy storage classes
STORAGE_DTYPES: dict[str, tuple[str, int]] = {
    "DoubleStorage": ("float64", 8),
    "FloatStorage": ("float32", 4),
    "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2),
    "LongStorage": ("int64", 8),
    "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2),
    "CharStorage": ("int8", 1),
    "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1),
    "ComplexFloatStorage": ("complex64", 8),
    "ComplexDoubleStorage": ("complex128", 16),
    "UntypedStorage": ("uint8", 1),
}

DTYPE_SIZES: dict[str, int] = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int64": 8,
    "int32": 4,
    "int16": 2,
    "int8": 1,
    "uint8": 1,
    "uint16": 2,
    "uint32": 4,
    "uint64": 8,
    "bool": 1,
    "complex64": 8,
    "complex128": 16,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "float8_e4m3fnuz": 1,
    "float8_e5m2fnuz": 1,
}

# torch.<name> attributes that are dtypes, as _rebuild_tensor_v3 receives them
_TORCH_DTYPE_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "cfloat": "complex64",
    "cdouble": "complex128",
}

# Module prefixes whose *class-like* names are expected inside model checkpoints.
_BENIGN_MODULE_PREFIXES = (
    "torch.nn.",
    "torch.",
    "models.",
    "utils.",
    "yolov5.",
    "ultralytics.",
    "numpy.",
    "collections",
    "pathlib",
    "argparse",
    "types",
    "datetime",
    "typing",
)
# Lower-case callables inside otherwise benign packages that a real unpickler would run and
# that do more than build data: known bypass routes of blocklist scanners.
_ALWAYS_SUSPICIOUS_MODULES = (
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "builtins",
    "__builtin__",
    "importlib",
    "pkgutil",
    "runpy",
    "shutil",
    "socket",
    "ctypes",
    "pickle",
    "_pickle",
    "marshal",
    "code",
    "codeop",
    "pty",
    "webbrowser",
    "multiprocessing",
    "threading",
    "asyncio",
    "operator",
    "functools",
    "torch.hub",
    "torch.jit",
    "torch.serialization",
    "torch.utils.cpp_extension",
    "torch._dynamo",
    "torch._inductor",
    "torch.ops",
    "torch._ops",
    "torch.package",
    "numpy.testing",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.lib.npyio",
)

MAX_PICKLE_BYTES = 512 * 1024 * 1024


@dataclass
class StorageMeta:
    """A storage the pickle refers to; its bytes live elsewhere (zip entry or legacy blob)."""

    key: str
    dtype: str
    itemsize: int
    numel: int
    location: str


@dataclass
class TensorMeta:
    """What ``_rebuild_tensor_v2/v3`` was given: enough to find the tensor's bytes later."""

    storage: StorageMeta | None
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: str
    requires_grad: bool = False
    is_parameter: bool = False

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_SIZES.get(self.dtype, 1)


@dataclass
class NumpyDType:
    code: str
    byteorder: str = "<"


@dataclass
class NumpyValue:
    """A numpy scalar or array found in the file (training checkpoints keep some)."""

    dtype: str
    shape: tuple[int, ...]
    value: Any = None


class Stub:
    """Stand-in for any class or function the pickle names; records, never runs."""

    _stub_module = ""
    _stub_name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:
        obj = object.__new__(cls)
        obj.__dict__["_stub_args"] = args
        obj.__dict__["_stub_kwargs"] = kwargs
        obj.__dict__["_stub_state"] = None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            self.__dict__["_stub_args"] = args
            self.__dict__["_stub_kwargs"] = kwargs

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_stub_state"] = state

    def __call__(self, *args: Any, **kwargs: Any) -> Stub:
        # A stub's result called again (getattr(...)(...) chains): record, never run.
        return type(self)(*args, **kwargs)

    @property
    def stub_qualname(self) -> str:
        return f"{self._stub_module}.{self._stub_name}"

    @property
    def state_dict_(self) -> dict[str, Any] | None:
        """The BUILD state when it is a plain dict (an nn.Module's ``__dict__``)."""
        state = self.__dict__.get("_stub_state")
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = state[0]  # (dict, slotstate) form
        return state if isinstance(state, dict) else None

    def is_module(self) -> bool:
        st = self.state_dict_
        return st is not None and "_parameters" in st and "_modules" in st

    def __repr__(self) -> str:
        return f"<{self.stub_qualname}>"


# Lower-case names that are classes or inert data in real checkpoints.
_BENIGN_LOWERCASE = {
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("torch", "device"),
    ("builtins", "object"),
    ("__builtin__", "object"),
}


def _is_suspicious(module: str, name: str) -> bool:
    if (module, name) in _BENIGN_LOWERCASE:
        return False
    # (builtins.object is checked first: the builtins module is otherwise always suspicious)
    for bad in _ALWAYS_SUSPICIOUS_MODULES:
        if module == bad or module.startswith(bad + "."):
            return True
    if not any(module == p.rstrip(".") or module.startswith(p) for p in _BENIGN_MODULE_PREFIXES):
        return True
    # Inside benign packages, classes are data; lower-case callables are functions that a real
    # unpickler would call with file-controlled arguments.
    return not name[:1].isupper()


def _encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise pickle.UnpicklingError(f"unexpected codec {encoding!r}")
    return text.encode(encoding)


def _as_tuple(v: Any) -> tuple[int, ...]:
    if isinstance(v, (tuple, list)) and all(isinstance(x, int) for x in v):
        return tuple(v)
    raise pickle.UnpicklingError("tensor shape or stride is not a tuple of ints")


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> TensorMeta:
    if not isinstance(storage, StorageMeta) or not isinstance(offset, int):
        raise pickle.UnpicklingError("tensor without a valid storage")
    shape, strides = _as_tuple(size), _as_tuple(stride)
    requires_grad = bool(rest[0]) if rest and isinstance(rest[0], bool) else False
    return TensorMeta(storage, offset, shape, strides, storage.dtype, requires_grad)


def _rebuild_tensor_v3(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    hooks: Any,
    dtype: Any,
    *rest: Any,
) -> TensorMeta:
    t = _rebuild_tensor(storage, offset, size, stride, requires_grad)
    if isinstance(dtype, str):
        t.dtype = dtype
    return t


def _rebuild_parameter(data: Any, requires_grad: Any = True, *rest: Any) -> Any:
    if isinstance(data, TensorMeta):
        data.is_parameter = True
        data.requires_grad = bool(requires_grad)
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    if callable(func) and isinstance(args, tuple):
        return func(*args)
    return None


def _ordered_dict(*args: Any) -> collections.OrderedDict[Any, Any]:
    # OrderedDict's REDUCE form is ``OrderedDict(list_of_pairs)``; never pass a stub as iterable.
    if args and isinstance(args[0], (list, tuple)):
        return collections.OrderedDict(args[0])
    return collections.OrderedDict()


def _plain_set(*args: Any) -> set[Any]:
    return set(args[0]) if args and isinstance(args[0], (list, tuple, set, frozenset)) else set()


def _plain_frozenset(*args: Any) -> frozenset[Any]:
    return frozenset(_plain_set(*args))


def _torch_size(*args: Any) -> tuple[int, ...]:
    return _as_tuple(args[0]) if args else ()


def _path(*parts: Any) -> str:
    return str(PurePosixPath(*(p for p in parts if isinstance(p, str))))


def _np_dtype(code: Any = "", *rest: Any) -> NumpyDType:
    return _NumpyDTypeStub(str(code))


class _NumpyDTypeStub(NumpyDType):
    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], str):
            self.byteorder = "<" if state[1] in ("<", "|", "=") else ">"


_STRUCT_CODES = {
    "f8": "d",
    "f4": "f",
    "f2": "e",
    "i8": "q",
    "i4": "i",
    "i2": "h",
    "i1": "b",
    "u8": "Q",
    "u4": "I",
    "u2": "H",
    "u1": "B",
    "b1": "?",
}


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    if isinstance(dtype, NumpyDType) and isinstance(data, bytes):
        code = _STRUCT_CODES.get(dtype.code)
        if code and struct.calcsize(code) == len(data):
            return struct.unpack(("<" if dtype.byteorder == "<" else ">") + code, data)[0]
    return NumpyValue(getattr(dtype, "code", "?"), ())


class _NumpyArray(NumpyValue):
    def __setstate__(self, state: Any) -> None:
        # (version, shape, dtype, is_fortran, rawdata)
        if isinstance(state, tuple) and len(state) == 5:
            shape, dtype, _, raw = state[1], state[2], state[3], state[4]
            self.shape = tuple(shape) if isinstance(shape, tuple) else ()
            self.dtype = getattr(dtype, "code", "?")
            code = _STRUCT_CODES.get(self.dtype)
            if code and isinstance(raw, bytes) and len(raw) <= 4096 and self.shape in ((), (1,)):
                try:
                    self.value = struct.unpack("<" + code, raw[: struct.calcsize(code)])[0]
                except struct.error:
                    self.value = None


def _np_reconstruct(cls: Any, *args: Any) -> NumpyValue:
    return _NumpyArray("?", ())


def _reconstructor(cls: Any, base: Any = None, state: Any = None) -> Any:
    """copyreg._reconstructor, as protocol 0/1 pickles of objects use: build the (stub) class only."""
    if isinstance(cls, type) and issubclass(cls, Stub):
        return cls()
    raise pickle.UnpicklingError("copyreg._reconstructor of a non-class")


_BUILDERS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _plain_set,
    ("__builtin__", "set"): _plain_set,
    ("builtins", "frozenset"): _plain_frozenset,
    ("__builtin__", "frozenset"): _plain_frozenset,
    ("torch", "Size"): _torch_size,
    ("_codecs", "encode"): _encode,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("pathlib", "PosixPath"): _path,
    ("pathlib", "WindowsPath"): _path,
    ("pathlib", "PurePosixPath"): _path,
    ("pathlib", "PureWindowsPath"): _path,
    ("pathlib", "Path"): _path,
    ("numpy", "dtype"): _np_dtype,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
}


class _StorageType:
    """What ``torch.HalfStorage`` and friends resolve to: only its dtype matters."""

    def __init__(self, name: str) -> None:
        self.dtype, self.itemsize = STORAGE_DTYPES[name]


@dataclass
class PickleScan:
    """The outcome of one restricted unpickling."""

    root: Any
    globals_seen: list[str] = field(default_factory=list)
    suspicious: list[str] = field(default_factory=list)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose every global is a builder from the allowlist or an inert stub.

    ``storage_lookup(key, dtype, itemsize, numel, location)`` validates storage references
    (the container knows how many bytes each storage really has) and returns a StorageMeta.
    """

    def __init__(
        self,
        file: io.BufferedIOBase | io.BytesIO,
        storage_lookup: Callable[[tuple[Any, ...]], StorageMeta] | None,
    ) -> None:
        super().__init__(file, encoding="latin1")
        self._storage_lookup = storage_lookup
        self._stubs: dict[tuple[str, str], type] = {}
        self.globals_seen: dict[str, None] = {}
        self.suspicious: dict[str, None] = {}

    def find_class(self, module: str, name: str) -> Any:
        qual = f"{module}.{name}"
        self.globals_seen.setdefault(qual, None)
        builder = _BUILDERS.get((module, name))
        if builder is not None:
            return builder
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch" and name in DTYPE_SIZES:
            return name  # a dtype object as _rebuild_tensor_v3 receives it
        if module == "torch" and name in _TORCH_DTYPE_ALIASES:
            return _TORCH_DTYPE_ALIASES[name]
        if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray") and name == "ndarray":
            return _NumpyArray
        if _is_suspicious(module, name):
            self.suspicious.setdefault(qual, None)
        stub = self._stubs.get((module, name))
        if stub is None:
            stub = type(name, (Stub,), {"_stub_module": module, "_stub_name": name})
            self._stubs[(module, name)] = stub
        return stub

    def persistent_load(self, pid: Any) -> Any:
        # Legacy files reference module classes as ('module', cls, source_file, source);
        # cls already went through find_class, so it is a stub or builder.
        if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == "module" and isinstance(pid[1], type):
            return pid[1]
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError("unsupported persistent id")
        if self._storage_lookup is None:
            raise pickle.UnpicklingError("storage reference where none is allowed")
        return self._storage_lookup(pid)


def storage_type_of(obj: Any) -> tuple[str, int]:
    if isinstance(obj, _StorageType):
        return obj.dtype, obj.itemsize
    if isinstance(obj, str) and obj in DTYPE_SIZES:
        return obj, DTYPE_SIZES[obj]
    raise pickle.UnpicklingError("storage of unknown type")


class PickleScanError(Exception):
    """Unpickling failed; carries the suspicious globals seen before the failure."""

    def __init__(self, cause: BaseException, suspicious: list[str]) -> None:
        super().__init__(str(cause) or type(cause).__name__)
        self.cause = cause
        self.suspicious = suspicious


def scan_pickle(
    data: bytes | io.BufferedIOBase,
    storage_lookup: Callable[[tuple[Any, ...]], StorageMeta] | None = None,
) -> tuple[PickleScan, int]:
    """Unpickle one object; return it with the globals it named, and bytes consumed."""
    f = io.BytesIO(data) if isinstance(data, bytes) else data
    up = RestrictedUnpickler(f, storage_lookup)
    try:
        root = up.load()
    except (RecursionError, MemoryError):
        raise
    except Exception as e:
        if up.suspicious:
            raise PickleScanError(e, list(up.suspicious)) from None
        raise
    return PickleScan(root, list(up.globals_seen), list(up.suspicious)), f.tell()
