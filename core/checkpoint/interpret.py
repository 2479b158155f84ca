"""Turn an unpickled checkpoint (stubs and tensor metadata) into a ModelInfo.

The walks here mirror ``nn.Module.named_modules()`` / ``named_parameters()``: pre-order over
``_modules``, de-duplicated by identity (pickle's memo keeps shared objects shared). They are
iterative and bounded, so a hostile file cannot make them recurse or expand without end.
"""

from __future__ import annotations

import math
import struct
from itertools import islice
from pathlib import Path
from typing import Any

from yolofreeze.core.checkpoint.model import (
    LayerInfo,
    Metadata,
    ModelInfo,
    ModuleNode,
    RawCheckpoint,
    TensorInfo,
    TensorLocation,
)
from yolofreeze.core.checkpoint.safepickle import NumpyValue, Stub, TensorMeta
from yolofreeze.core.checkpoint.storage import READ_ERRORS, read_tensor_bytes
from yolofreeze.core.checkpoint.yamlgate import YamlProblem, check_model_yaml
from yolofreeze.core.errors import CheckpointError

MAX_MODULES = 200_000
MAX_DEPTH = 64  # real yolov5/ultralytics modules nest 6 deep; names deeper than this are refused
_PLAIN_BUDGET = 20_000
_MAX_LAYER_DIGITS = 9
# a bare state dict does not say which tensors are buffers; these names are (BatchNorm, Detect)
BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked", "anchors", "anchor_grid")


def tensor_info(name: str, t: TensorMeta, raw_locations: dict[str, tuple[str | None, int, int]]) -> TensorInfo:
    loc = None
    if t.storage is not None and t.storage.key in raw_locations:
        member, start, nbytes = raw_locations[t.storage.key]
        loc = TensorLocation(member, start, nbytes, t.storage.dtype, t.offset, t.stride)
    return TensorInfo(name, t.shape, t.dtype, t.numel, t.nbytes, loc)


def extract_model(p: Path, size: int, raw: RawCheckpoint, warnings: list[str]) -> ModelInfo:
    if raw.flat is not None:
        return _from_state_dict(p, size, raw, raw.flat, "state_dict", {}, warnings)
    root = raw.root
    top: dict[str, Any] = root if isinstance(root, dict) else {}
    net: Stub | None = None
    source = ""
    if isinstance(root, Stub) and root.is_module():
        net, source = root, "object"
    else:
        for key in ("model", "ema"):
            cand = top.get(key)
            if isinstance(cand, Stub) and cand.is_module():
                net, source = cand, key
                break
    if net is None:
        sd = top.get("state_dict", top.get("model_state_dict", top))
        if isinstance(sd, dict) and sd and all(isinstance(v, TensorMeta) for v in sd.values()):
            flat = {str(k): v for k, v in sd.items()}
            return _from_state_dict(p, size, raw, flat, "state_dict", top, warnings)
        if isinstance(root, (dict, Stub)):
            raise CheckpointError(f"{p}: no model or state dict found in this checkpoint")
        raise CheckpointError(f"{p}: not a model checkpoint (top level is {type(root).__name__})")

    modules, params, buffers = _walk(p, net, raw)
    net_state = net.state_dict_ or {}
    yaml = _plain(net_state.get("yaml"))
    yaml = yaml if isinstance(yaml, dict) else None
    qual = net.stub_qualname
    kind = _kind(qual, yaml)
    layers = _layers(modules, yaml)
    meta = _metadata(top, net_state, yaml, _strides(p, net_state, raw))
    return ModelInfo(
        path=str(p),
        file_size=size,
        container=raw.container,
        kind=kind,
        source=source,
        model_class=qual,
        modules=tuple(modules),
        parameters=tuple(params),
        buffers=tuple(buffers),
        layers=layers,
        yaml=yaml,
        metadata=meta,
        globals=tuple(raw.globals_seen),
        suspicious=tuple(raw.suspicious),
        warnings=tuple(warnings),
        yaml_problems=_yaml_problems(kind, yaml),
    )


def _yaml_problems(kind: str, yaml: dict[str, Any] | None) -> tuple[YamlProblem, ...]:
    """The gate's verdict on a YAML yolov5 could build (Ultralytics YAMLs are another grammar, never built)."""
    if yaml is None or kind == "ultralytics":
        return ()
    return check_model_yaml(yaml).problems


def _kind(qual: str, yaml: dict[str, Any] | None) -> str:
    if qual.startswith("ultralytics."):
        return "ultralytics"
    if qual.startswith(("models.yolo.", "yolov5.models.yolo.")):
        return "yolov5"
    return "unknown"


def _walk(p: Path, net: Stub, raw: RawCheckpoint) -> tuple[list[ModuleNode], list[TensorInfo], list[TensorInfo]]:
    modules: list[ModuleNode] = []
    params: list[TensorInfo] = []
    buffers: list[TensorInfo] = []
    seen_modules: set[int] = set()
    seen_params: set[int] = set()
    seen_buffers: set[int] = set()
    stack: list[tuple[str, Stub, int]] = [("", net, 0)]
    while stack:
        path, mod, depth = stack.pop()
        if id(mod) in seen_modules:
            continue
        seen_modules.add(id(mod))
        if len(seen_modules) > MAX_MODULES or depth > MAX_DEPTH:
            raise CheckpointError(f"{p}: module tree too large or deep to be a real model")
        state = mod.state_dict_ or {}
        prefix = f"{path}." if path else ""
        own: list[str] = []
        for name, t in _items(state.get("_parameters")):
            if isinstance(t, TensorMeta) and id(t) not in seen_params:
                seen_params.add(id(t))
                full = prefix + str(name)
                own.append(full)
                params.append(tensor_info(full, t, raw.locations))
        for name, t in _items(state.get("_buffers")):
            if isinstance(t, TensorMeta) and id(t) not in seen_buffers:
                seen_buffers.add(id(t))
                buffers.append(tensor_info(prefix + str(name), t, raw.locations))
        children: list[tuple[str, Stub]] = []
        for name, child in _items(state.get("_modules")):
            if isinstance(child, Stub) and child.is_module():
                children.append((prefix + str(name), child))
        modules.append(ModuleNode(path, mod._stub_name, mod.stub_qualname, tuple(c for c, _ in children), tuple(own)))
        for cpath, child in reversed(children):
            stack.append((cpath, child, depth + 1))
    # children listed above may include modules skipped later as duplicates; keep only real ones
    real = {m.path for m in modules}
    return (
        [
            ModuleNode(m.path, m.type, m.qualname, tuple(c for c in m.children if c in real), m.parameters)
            for m in modules
        ],
        params,
        buffers,
    )


def _items(d: Any) -> list[tuple[Any, Any]]:
    return list(d.items()) if isinstance(d, dict) else []


def _from_state_dict(
    p: Path,
    size: int,
    raw: RawCheckpoint,
    flat: dict[str, TensorMeta],
    source: str,
    top: dict[str, Any],
    warnings: list[str],
) -> ModelInfo:
    params: list[TensorInfo] = []
    buffers: list[TensorInfo] = []
    for name, meta in flat.items():
        info = tensor_info(name, meta, raw.locations)
        (buffers if name.rsplit(".", 1)[-1] in BUFFER_SUFFIXES else params).append(info)
    # Rebuild the module tree from dotted names; types are unknown in a bare state dict.
    # Prefixes are built incrementally (each from its parent), never by re-joining the parts:
    # linear in the name's length, with the depth bounded as for pickled modules.
    children: dict[str, list[str]] = {"": []}
    own: dict[str, list[str]] = {"": []}
    for ti in params + buffers:
        if ti.name.count(".") > MAX_DEPTH:
            raise CheckpointError(f"{p}: tensor name {ti.name[:60]!r}… nests too deep to be a model")
        parts = ti.name.split(".")
        parent = ""
        for i in range(1, len(parts)):
            path = f"{parent}.{parts[i - 1]}" if i > 1 else parts[0]
            if path not in children:
                children[path] = []
                own[path] = []
                children[parent].append(path)
            parent = path
    for ti in params:
        own[ti.name.rsplit(".", 1)[0] if "." in ti.name else ""].append(ti.name)
    modules: list[ModuleNode] = []
    stack = [""]
    while stack:
        path = stack.pop()
        modules.append(ModuleNode(path, "", "", tuple(children[path]), tuple(own[path])))
        stack.extend(reversed(children[path]))
    warnings.append("bare state dict: module types and the model YAML are not in the file")
    return ModelInfo(
        path=str(p),
        file_size=size,
        container=raw.container,
        kind="state_dict",
        source=source,
        model_class="",
        modules=tuple(modules),
        parameters=tuple(params),
        buffers=tuple(buffers),
        layers=_layers(modules, None),
        yaml=None,
        metadata=_metadata(top, {}, None),
        globals=tuple(raw.globals_seen),
        suspicious=tuple(raw.suspicious),
        warnings=tuple(warnings),
    )


def _layers(modules: list[ModuleNode], yaml: dict[str, Any] | None) -> tuple[LayerInfo, ...]:
    by_path = {m.path: m for m in modules}
    seq = by_path.get("model")
    if seq is None:
        return ()
    rows: list[Any] = []
    n_backbone = 0
    gd = 1.0
    if yaml:
        bb, hd = yaml.get("backbone"), yaml.get("head")
        if isinstance(bb, list) and isinstance(hd, list):
            rows, n_backbone = bb + hd, len(bb)
        dm = yaml.get("depth_multiple", 1.0)
        gd = float(dm) if isinstance(dm, (int, float)) else 1.0
    numbered: list[tuple[int, ModuleNode]] = []
    for child in seq.children:
        tail = child.rsplit(".", 1)[-1]
        # ASCII digits only (int() also takes other scripts' digits) and a bounded length.
        if not (tail.isascii() and tail.isdigit() and len(tail) <= _MAX_LAYER_DIGITS):
            continue
        numbered.append((int(tail), by_path[child]))
    # Layer indices are bounded by what the file holds: model.200000000 in a file with a few
    # hundred modules is not a layer list (nothing may size a range() by it), so no layers.
    if numbered and max(i for i, _ in numbered) >= len(modules):
        return ()
    layers: list[LayerInfo] = []
    for i, mod in numbered:
        from_: tuple[int, ...] = ()
        repeats, args = 1, ()
        section = ""
        if i < len(rows) and isinstance(rows[i], list) and len(rows[i]) >= 4:
            f, n, _, a = rows[i][:4]
            from_ = tuple(f) if isinstance(f, list) else (f,) if isinstance(f, int) else ()
            if isinstance(n, int):
                repeats = max(round(n * gd), 1) if n > 1 else n
            args = tuple(a) if isinstance(a, list) else ()
            section = "backbone" if i < n_backbone else "head"
        layers.append(LayerInfo(i, mod.type or "?", from_, repeats, args, section, f"model.{i}."))
    return tuple(layers)


# The stride tensor is a few numbers; a "stride" whose storage is larger is not read at all.
_MAX_STRIDE_LEVELS = 8
_MAX_STRIDE_STORAGE = 1024
_STRIDE_FORMATS = {"float32": "<f", "float16": "<e", "float64": "<d", "int64": "<q", "int32": "<i"}
_STRIDE_READ_ERRORS: tuple[type[BaseException], ...] = (CheckpointError, OSError, *READ_ERRORS)


def _strides(p: Path, net_state: dict[str, Any], raw: RawCheckpoint) -> tuple[float, ...]:
    """The Detect strides the model was built with (``model.stride``: 8, 16, 32 or 8 … 64 for P6).

    yolov5 keeps them as a plain tensor attribute of the model (and of its Detect layer), not in the
    state dict, so they are read from their storage here: at most a kilobyte, never unpickled, and
    () for anything that is not a short 1-d tensor of numbers.
    """
    t = net_state.get("stride")
    if not isinstance(t, TensorMeta):
        t = _detect_state(net_state).get("stride")
    if (
        not isinstance(t, TensorMeta)
        or t.dtype not in _STRIDE_FORMATS
        or len(t.shape) != 1
        or not 1 <= t.shape[0] <= _MAX_STRIDE_LEVELS
    ):
        return ()
    ti = tensor_info("stride", t, raw.locations)
    if ti.location is None or ti.location.storage_nbytes > _MAX_STRIDE_STORAGE:
        return ()
    fmt = _STRIDE_FORMATS[t.dtype]
    size = struct.calcsize(fmt)
    step = ti.location.stride[0] if ti.location.stride else 1
    try:
        data = read_tensor_bytes(p, ti)
        values = tuple(
            float(struct.unpack_from(fmt, data, (ti.location.offset + i * step) * size)[0]) for i in range(t.shape[0])
        )
    except _STRIDE_READ_ERRORS:
        return ()  # a stride we cannot read is a stride we do not know; the rest of the file still is
    # NaN or inf would also make `inspect --json` print what is not JSON
    if not all(math.isfinite(v) for v in values):
        return ()
    return tuple(int(v) if v.is_integer() else v for v in values)  # 8, 16, 32 as yolov5 writes them


def _detect_state(net_state: dict[str, Any]) -> dict[str, Any]:
    """The state of the model's last layer (the Detect head), or {}."""
    seq = dict(_items(net_state.get("_modules"))).get("model")
    layers = _items(seq.state_dict_.get("_modules")) if isinstance(seq, Stub) and seq.state_dict_ else []
    last = layers[-1][1] if layers else None
    return last.state_dict_ or {} if isinstance(last, Stub) else {}


def _metadata(
    top: dict[str, Any], net_state: dict[str, Any], yaml: dict[str, Any] | None, stride: tuple[float, ...] = ()
) -> Metadata:
    epoch = top.get("epoch")
    epoch = int(epoch) if isinstance(epoch, int) and not isinstance(epoch, bool) else None
    nc = net_state.get("nc", (yaml or {}).get("nc"))
    nc = nc if isinstance(nc, int) and not isinstance(nc, bool) else None
    raw_names = _plain(net_state.get("names"))
    if isinstance(raw_names, dict):
        names = tuple(str(v) for _, v in sorted(raw_names.items(), key=lambda kv: str(kv[0]).zfill(8)))
    elif isinstance(raw_names, list):
        names = tuple(str(v) for v in raw_names)
    else:
        names = ()
    date = top.get("date")
    opts = _plain(top.get("opt", top.get("train_args")))
    return Metadata(
        epoch=epoch,
        nc=nc,
        names=names,
        stride=stride,
        date=date if isinstance(date, str) else None,
        training_options=opts if isinstance(opts, dict) else {},
        has_optimizer=top.get("optimizer") is not None,
        has_ema=isinstance(top.get("ema"), Stub),
        top_level_keys=tuple(str(k) for k in top),
    )


def _plain(obj: Any) -> Any:
    """A JSON-able copy of pickled data, bounded in size however the file shares references."""
    budget = [_PLAIN_BUDGET]

    def go(o: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > 32:
            return "…"
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        if isinstance(o, bytes):
            return f"<{len(o)} bytes>"
        if isinstance(o, NumpyValue):
            return o.value if o.value is not None else f"<numpy {o.dtype} {list(o.shape)}>"
        if isinstance(o, TensorMeta):
            return f"<tensor {o.dtype} {list(o.shape)}>"
        # islice: never copy a huge container just to cut it down to the budget
        if isinstance(o, dict):
            return {str(k)[:200]: go(v, depth + 1) for k, v in islice(o.items(), max(budget[0], 0))}
        if isinstance(o, (list, tuple, set, frozenset)):
            return [go(v, depth + 1) for v in islice(o, max(budget[0], 0))]
        if isinstance(o, Stub):
            st = o.state_dict_
            if st is not None and not o.is_module():
                return {str(k)[:200]: go(v, depth + 1) for k, v in islice(st.items(), max(budget[0], 0))}
            return f"<{o.stub_qualname}>"
        return f"<{type(o).__name__}>"

    return go(obj, 0)
