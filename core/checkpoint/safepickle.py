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
import pickletools
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

# ---------------------------------------------------------------------------------------------
# What torch.load(weights_only=False) may meet without running a checkpoint's code.
#
# A real unpickler imports every module a global names and then, depending on the opcode,
# CALLS it (REDUCE: ``f(*args)``, so a class's ``__init__`` runs) or only INSTANTIATES it
# (NEWOBJ / copyreg.__newobj__: ``cls.__new__(cls)``, then BUILD: ``__setstate__(state)``).
# A global is accepted only if its exact ``module.qualname`` is on one of the lists below for the
# way the pickle uses it; everything else is reported, by name.

# Classes a checkpoint may instantiate without running their ``__init__``: the nn.Module classes
# of torch.nn, yolov5 (pip and clone names) and ultralytics, minus any whose ``__new__``,
# ``__reduce__`` or ``__setstate__`` would do more than fill ``__dict__``. Static on purpose (the
# reader imports neither torch nor yolov5); tests/core/test_pickle_allowlist.py derives the same
# list from the installed source with ``ast`` and fails when they drift.
_INSTANTIABLE_TEXT = """
models.common: AutoShape Bottleneck BottleneckCSP C3 C3Ghost C3SPP C3TR C3x Classify Concat Contract Conv
    CrossConv DWConv DWConvTranspose2d DetectMultiBackend Expand Focus GhostBottleneck GhostConv Proto SPP
    SPPF TransformerBlock TransformerLayer
models.experimental: Ensemble MixConv2d Sum
models.yolo: BaseModel ClassificationModel Detect DetectionModel Model Segment SegmentationModel
torch.nn.modules.activation: CELU ELU GELU GLU Hardshrink Hardsigmoid Hardswish Hardtanh LeakyReLU
    LogSigmoid LogSoftmax Mish MultiheadAttention PReLU RReLU ReLU ReLU6 SELU SiLU Sigmoid Softmax Softmax2d
    Softmin Softplus Softshrink Softsign Tanh Tanhshrink Threshold
torch.nn.modules.adaptive: AdaptiveLogSoftmaxWithLoss
torch.nn.modules.batchnorm: BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d
    LazyBatchNorm3d SyncBatchNorm _BatchNorm _LazyNormBase _NormBase
torch.nn.modules.channelshuffle: ChannelShuffle
torch.nn.modules.container: Container ModuleDict ModuleList ParameterDict ParameterList Sequential
torch.nn.modules.conv: Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d
    LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d _ConvNd
    _ConvTransposeMixin _ConvTransposeNd
torch.nn.modules.distance: CosineSimilarity PairwiseDistance
torch.nn.modules.dropout: AlphaDropout Dropout Dropout1d Dropout2d Dropout3d FeatureAlphaDropout _DropoutNd
torch.nn.modules.flatten: Flatten Unflatten
torch.nn.modules.fold: Fold Unfold
torch.nn.modules.instancenorm: InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d
    LazyInstanceNorm2d LazyInstanceNorm3d _InstanceNorm
torch.nn.modules.linear: Bilinear Identity LazyLinear Linear NonDynamicallyQuantizableLinear
torch.nn.modules.loss: BCELoss BCEWithLogitsLoss CTCLoss CosineEmbeddingLoss CrossEntropyLoss
    GaussianNLLLoss HingeEmbeddingLoss HuberLoss KLDivLoss L1Loss LinearCrossEntropyLoss MSELoss
    MarginRankingLoss MultiLabelMarginLoss MultiLabelSoftMarginLoss MultiMarginLoss NLLLoss NLLLoss2d
    PoissonNLLLoss SmoothL1Loss SoftMarginLoss TripletMarginLoss TripletMarginWithDistanceLoss _Loss
    _WeightedLoss
torch.nn.modules.normalization: CrossMapLRN2d GroupNorm LayerNorm LocalResponseNorm RMSNorm
torch.nn.modules.padding: CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d
    ConstantPad3d ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d
    ReplicationPad3d ZeroPad1d ZeroPad2d ZeroPad3d _CircularPadNd _ConstantPadNd _ReflectionPadNd
    _ReplicationPadNd
torch.nn.modules.pixelshuffle: PixelShuffle PixelUnshuffle
torch.nn.modules.pooling: AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d
    AdaptiveMaxPool2d AdaptiveMaxPool3d AvgPool1d AvgPool2d FractionalMaxPool2d FractionalMaxPool3d LPPool1d
    LPPool2d LPPool3d MaxPool1d MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d _AdaptiveAvgPoolNd
    _AdaptiveMaxPoolNd _AvgPoolNd _LPPoolNd _MaxPoolNd _MaxUnpoolNd
torch.nn.modules.rnn: GRUCell LSTMCell RNNCell RNNCellBase
torch.nn.modules.sparse: Embedding EmbeddingBag
torch.nn.modules.transformer: Transformer TransformerDecoder TransformerDecoderLayer TransformerEncoder
    TransformerEncoderLayer
torch.nn.modules.upsampling: Upsample UpsamplingBilinear2d UpsamplingNearest2d
ultralytics.nn.modules.activation: AGLU
ultralytics.nn.modules.block: A2C2f AAttn ABlock AConv ADown Attention BNContrastiveHead Bottleneck
    BottleneckCSP C1 C2 C2PSA C2f C2fAttn C2fCIB C2fPSA C3 C3Ghost C3TR C3f C3k C3k2 C3x CBFuse CBLinear CIB
    ContrastiveHead DFL ELAN1 GhostBottleneck HGBlock HGStem ImagePoolingAttn MaxSigmoidAttnBlock PSA
    PSABlock Proto Proto26 RealNVP RepBottleneck RepC3 RepCSP RepNCSPELAN4 RepVGGDW ResNetBlock ResNetLayer
    Residual SAVPE SCDown SPP SPPELAN SPPF SwiGLUFFN TorchVision
ultralytics.nn.modules.conv: CBAM ChannelAttention Concat Conv Conv2 ConvTranspose DWConv DWConvTranspose2d
    Focus GhostConv Index LightConv RepConv SpatialAttention
ultralytics.nn.modules.head: Classify Depth Detect LRPCHead OBB OBB26 Pose Pose26 RTDETRDecoder Segment
    Segment26 SemanticSegment WorldDetect YOLOEDetect YOLOESegment YOLOESegment26 v10Detect
ultralytics.nn.modules.transformer: AIFI DeformableTransformerDecoder DeformableTransformerDecoderLayer
    LayerNorm2d MLP MLPBlock MSDeformAttn TransformerBlock TransformerEncoderLayer TransformerLayer
ultralytics.nn.tasks: BaseModel ClassificationModel DepthModel DetectionModel Ensemble OBBModel PoseModel
    RTDETRDetectionModel SegmentationModel SemanticSegmentationModel WorldModel YOLOEModel YOLOESegModel
utils.activations: AconC FReLU Hardswish MemoryEfficientMish MetaAconC Mish SiLU
yolov5.models.common: AutoShape Bottleneck BottleneckCSP C3 C3Ghost C3SPP C3TR C3x Classify Concat Contract
    Conv CrossConv DWConv DWConvTranspose2d DetectMultiBackend Expand Focus GhostBottleneck GhostConv Proto
    SPP SPPF TransformerBlock TransformerLayer
yolov5.models.experimental: Ensemble MixConv2d Sum
yolov5.models.yolo: BaseModel ClassificationModel Detect DetectionModel Model Segment SegmentationModel
yolov5.utils.activations: AconC FReLU Hardswish MemoryEfficientMish MetaAconC Mish SiLU
"""


def _parse_names(text: str) -> frozenset[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    module = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            module, _, line = line.partition(":")
        out.update((module, name) for name in line.split())
    return frozenset(out)


MODULE_CLASSES: frozenset[tuple[str, str]] = _parse_names(_INSTANTIABLE_TEXT)
INSTANTIABLE: frozenset[tuple[str, str]] = MODULE_CLASSES | {
    ("argparse", "Namespace"),
    ("builtins", "object"),
    ("__builtin__", "object"),
}

# Classes a checkpoint may CALL (REDUCE): their ``__init__`` only stores its arguments. Builders
# with a pure-Python stand-in (tensors, containers, numpy, paths) are in ``_BUILDERS`` below.
CALLABLE_STUBS: frozenset[tuple[str, str]] = frozenset(
    {
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("argparse", "Namespace"),
        ("torch", "device"),
        ("builtins", "object"),
        ("__builtin__", "object"),
        ("builtins", "bytearray"),
        ("__builtin__", "bytearray"),
        ("builtins", "bytes"),
        ("__builtin__", "bytes"),
        ("builtins", "complex"),
        ("__builtin__", "complex"),
        ("builtins", "slice"),
        ("__builtin__", "slice"),
        ("builtins", "range"),
        ("__builtin__", "range"),
        ("ultralytics.utils", "IterableSimpleNamespace"),
    }
)

# Referenced as values only (passed to a builder, never called): the tensor types.
_DATA_REFS: frozenset[tuple[str, str]] = frozenset(
    {
        ("torch", "Tensor"),
        ("torch._tensor", "Tensor"),
        ("torch.nn.parameter", "Parameter"),
    }
)

# Budgets for what one file's pickles may ask of the reader. Real checkpoints: a yolov5n training
# file's data.pkl is 186 KB and 77k opcodes; yolov5x about 4x that. A bomb stops at these bounds
# long before it costs seconds or hundreds of MiB.
MAX_PICKLE_OPS = 1_500_000
MAX_MEMO_INDEX = MAX_PICKLE_OPS  # the C unpickler sizes its memo array by the largest index
MAX_INT_BITS = 1024  # larger ints are no metadata, and str() of one can raise ValueError
MAX_PICKLE_BYTES = 64 * 1024 * 1024  # decompressed size of all pickles in one file


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
    """Stand-in for any class or function the pickle names; records, never runs.

    ``__new__`` is what NEWOBJ (and copyreg.__newobj__) uses: instantiation without ``__init__``.
    ``__init__`` only runs when the pickle CALLS the class (REDUCE, INST/OBJ with arguments), the
    way a real unpickler would run the real class's ``__init__``; ``_stub_called`` reports that
    to the unpickler, which judges it.
    """

    _stub_module = ""
    _stub_name = ""
    _stub_called: Callable[[str], None] | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:
        obj = object.__new__(cls)
        obj.__dict__["_stub_args"] = args
        obj.__dict__["_stub_kwargs"] = kwargs
        obj.__dict__["_stub_state"] = None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        report = type(self)._stub_called
        if report is not None:
            report("")
        if args or kwargs:
            self.__dict__["_stub_args"] = args
            self.__dict__["_stub_kwargs"] = kwargs

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_stub_state"] = state

    def __call__(self, *args: Any, **kwargs: Any) -> Stub:
        # Calling an *instance* (a module's forward, a bound method got by getattr): always code.
        report = type(self)._stub_called
        if report is not None:
            report(" instance")
        return type(self).__new__(type(self), *args, **kwargs)

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


def _encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise pickle.UnpicklingError(f"unexpected codec {encoding!r}")
    return text.encode(encoding)


_MAX_DIM = 1 << 62


def _as_tuple(v: Any) -> tuple[int, ...]:
    if (
        isinstance(v, (tuple, list))
        and len(v) <= 64
        and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < _MAX_DIM for x in v)
    ):
        return tuple(v)
    raise pickle.UnpicklingError("tensor shape or stride is not a tuple of non-negative ints")


def check_view(
    offset: int, shape: tuple[int, ...], stride: tuple[int, ...], itemsize: int, storage_bytes: int
) -> str | None:
    """Why a tensor view (element offset, shape, stride) does not fit its storage, or None.

    Checked when a tensor is read from the pickle, before any byte of it is ever read: a view
    past the end would make numpy's ``as_strided`` read foreign memory or crash.
    """
    if len(shape) != len(stride):
        return f"shape {list(shape)} and stride {list(stride)} differ in length"
    if not 0 <= offset < _MAX_DIM:
        return f"offset {offset} is out of range"
    if any(d == 0 for d in shape):
        end = offset  # an empty view reads nothing
    else:
        end = offset + 1 + sum((d - 1) * s for d, s in zip(shape, stride, strict=True))
    if end * itemsize > storage_bytes:
        return (
            f"view (offset {offset}, shape {list(shape)}, stride {list(stride)}) runs past its "
            f"storage of {storage_bytes} bytes"
        )
    return None


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> TensorMeta:
    if not isinstance(storage, StorageMeta) or not isinstance(offset, int) or isinstance(offset, bool):
        raise pickle.UnpicklingError("tensor without a valid storage")
    shape, strides = _as_tuple(size), _as_tuple(stride)
    requires_grad = bool(rest[0]) if rest and isinstance(rest[0], bool) else False
    t = TensorMeta(storage, offset, shape, strides, storage.dtype, requires_grad)
    _check_tensor(t)
    return t


def _check_tensor(t: TensorMeta) -> None:
    assert t.storage is not None
    why = check_view(t.offset, t.shape, t.stride, DTYPE_SIZES.get(t.dtype, 1), t.storage.numel * t.storage.itemsize)
    if why is not None:
        raise pickle.UnpicklingError(f"tensor {why}")


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
        _check_tensor(t)  # the element size changed: offsets and strides count the new elements
    return t


def _rebuild_parameter(data: Any, requires_grad: Any = True, *rest: Any) -> Any:
    if isinstance(data, TensorMeta):
        data.is_parameter = True
        data.requires_grad = bool(requires_grad)
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    # torch calls func(*args): a stub class here reports itself as called (its __init__ would run)
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


class _Instantiator:
    """copyreg._reconstructor / __newobj__ / __newobj_ex__: ``cls.__new__(cls)`` — never __init__.

    A real ``_reconstructor(cls, base, state)`` also runs ``base.__init__`` unless ``base`` is
    ``object``; any other base is reported.
    """

    def __init__(self, report: Callable[[str], None], qual: str) -> None:
        self._report = report
        self._qual = qual

    def __call__(self, cls: Any, *args: Any) -> Any:
        if not (isinstance(cls, type) and issubclass(cls, Stub)):
            raise pickle.UnpicklingError(f"{self._qual} of a non-class")
        if self._qual.endswith("_reconstructor"):
            base = args[0] if args else None
            if not (
                isinstance(base, type)
                and issubclass(base, Stub)
                and base._stub_name == "object"
                and base._stub_module in ("builtins", "__builtin__")
            ):
                self._report(
                    f"{self._qual} with base {getattr(base, '_stub_module', '?')}."
                    f"{getattr(base, '_stub_name', type(base).__name__)}"
                )
        return cls.__new__(cls)


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
_INSTANTIATORS = {
    ("copyreg", "_reconstructor"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "__newobj__"),
    ("copyreg", "__newobj_ex__"),
}
_NDARRAY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")


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


class PickleBudget:
    """Opcodes left for all the pickles of one file (shared, so many small pickles add up)."""

    def __init__(self, ops: int = MAX_PICKLE_OPS) -> None:
        self.ops_left = ops


_PUT_CODES = frozenset("pqr")
_INT_CODES = frozenset("IL\x8a\x8b")


def prescan(data: bytes, budget: PickleBudget, offset: int = 0) -> int:
    """Walk one pickle's opcodes (none executed) under the budget; return its length in bytes.

    What the C unpickler would do unboundedly is refused here first: more opcodes than the
    budget (memo/DUP bombs, huge containers: each element costs an opcode), a memo index that
    would make it allocate a huge memo table, integers too large to be metadata. Malformed or
    truncated data (a length claim past the end, decimal ints over 4,300 digits) raises too.
    Returns the offset just past the pickle's STOP.
    """
    f = io.BytesIO(data)
    f.seek(offset)
    count = 0
    limit = budget.ops_left
    try:
        for op, arg, _ in pickletools.genops(f):
            count += 1
            if count > limit:
                raise PickleLimitError(f"more than {MAX_PICKLE_OPS:,} pickle opcodes; too large to be metadata")
            code = op.code
            if code in _PUT_CODES and isinstance(arg, int) and not 0 <= arg < MAX_MEMO_INDEX:
                raise PickleLimitError(f"pickle memo index {arg} out of range")
            if code in _INT_CODES and isinstance(arg, int) and arg.bit_length() > MAX_INT_BITS:
                raise PickleLimitError(f"an integer of {arg.bit_length()} bits; too large to be metadata")
    except ValueError as e:  # pickletools' word for malformed, truncated or over-long data
        raise pickle.UnpicklingError(f"malformed pickle: {str(e)[:100]}") from None
    budget.ops_left -= count
    return f.tell()


class PickleLimitError(pickle.UnpicklingError):
    """A pickle over one of the reader's budgets (opcodes, memo, integer size)."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose every global is a builder from the allowlist or an inert stub.

    ``storage_lookup(pid)`` validates storage references (the container knows how many bytes
    each storage really has) and returns a StorageMeta. ``suspicious`` collects, by name, every
    global a real unpickler would import or call beyond the allowlists.
    """

    def __init__(
        self,
        file: io.BytesIO,
        storage_lookup: Callable[[tuple[Any, ...]], StorageMeta] | None,
    ) -> None:
        super().__init__(file, encoding="latin1")
        self._storage_lookup = storage_lookup
        self._stubs: dict[tuple[str, str], type] = {}
        self.globals_seen: dict[str, None] = {}
        self.suspicious: dict[str, None] = {}

    def _flag(self, what: str) -> None:
        self.suspicious.setdefault(what, None)

    def find_class(self, module: str, name: str) -> Any:
        qual = f"{module}.{name}"
        self.globals_seen.setdefault(qual, None)
        key = (module, name)
        builder = _BUILDERS.get(key)
        if builder is not None:
            return builder
        if key in _INSTANTIATORS:
            return _Instantiator(self._flag, qual)
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch" and name in DTYPE_SIZES:
            return name  # a dtype object as _rebuild_tensor_v3 receives it
        if module == "torch" and name in _TORCH_DTYPE_ALIASES:
            return _TORCH_DTYPE_ALIASES[name]
        if module in _NDARRAY_MODULES and name == "ndarray":
            return _NumpyArray
        # Dotted qualnames (protocol 4 resolves them attribute by attribute: a benign class's
        # ``forward.__builtins__.get`` reaches eval), and anything on no list, are reported.
        if "." in name or (key not in INSTANTIABLE and key not in CALLABLE_STUBS and key not in _DATA_REFS):
            self._flag(qual)
        stub = self._stubs.get(key)
        if stub is None:
            stub = type(
                name.rpartition(".")[2] or "stub",
                (Stub,),
                {"_stub_module": module, "_stub_name": name, "_stub_called": self._called_reporter(key, qual)},
            )
            self._stubs[key] = stub
        return stub

    def _called_reporter(self, key: tuple[str, str], qual: str) -> Callable[[str], None]:
        def report(how: str) -> None:
            # The class itself called (its __init__ would run) is fine only for CALLABLE_STUBS;
            # calling an instance of anything is running its code. (A global already reported
            # by name is not reported again for being called.)
            if qual in self.suspicious:
                return
            if how or key not in CALLABLE_STUBS:
                self._flag(f"{qual}{how} called")

        return report

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
    data: bytes,
    storage_lookup: Callable[[tuple[Any, ...]], StorageMeta] | None = None,
    budget: PickleBudget | None = None,
    offset: int = 0,
) -> tuple[PickleScan, int]:
    """Unpickle the one object that starts at ``offset``; return it with the globals it named,
    and the offset just past it. The opcodes are pre-scanned under ``budget`` first."""
    end = prescan(data, budget if budget is not None else PickleBudget(), offset)
    f = io.BytesIO(data)  # shares the bytes object's buffer: no copy
    f.seek(offset)
    up = RestrictedUnpickler(f, storage_lookup)
    try:
        root = up.load()
    except (RecursionError, MemoryError):
        if up.suspicious:
            raise PickleScanError(RecursionError("too deep"), list(up.suspicious)) from None
        raise
    except Exception as e:
        if up.suspicious:
            raise PickleScanError(e, list(up.suspicious)) from None
        raise
    if f.tell() != end:
        raise pickle.UnpicklingError("pickle ended where its opcodes did not")
    return PickleScan(root, list(up.globals_seen), list(up.suspicious)), end
