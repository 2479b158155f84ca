"""The safe reader against torch's own view of the same real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from yolofreeze.core.checkpoint.reader import read_checkpoint, read_tensor_bytes

TORCH_DTYPES = {torch.float16: "float16", torch.float32: "float32", torch.int64: "int64"}


def _torch_load(path: Path) -> Any:
    """torch.load with the class names a yolov5 clone uses made importable (trusted test files)."""
    import yolov5.models
    import yolov5.models.common
    import yolov5.models.yolo

    sys.modules.setdefault("models", yolov5.models)
    sys.modules.setdefault("models.yolo", yolov5.models.yolo)
    sys.modules.setdefault("models.common", yolov5.models.common)
    return torch.load(path, map_location="cpu", weights_only=False)


def _network(obj: Any) -> Any:
    if isinstance(obj, dict):
        return obj.get("model") or obj.get("ema") or obj
    return obj


MODEL_FILES = [
    "yolov5s.pt",
    "yolov5n.pt",
    "yolov5n6.pt",
    "yolov5s-clone.pt",
    "yolov5n-oldmodel.pt",
    "yolov5s-focus.pt",
    "yolov5n-train.pt",
    "yolov5n-train-pip.pt",
    "yolov5n-legacy.pt",
    "yolov5n-archive.pt",
    "yolov8n.pt",
]


@pytest.mark.parametrize("name", MODEL_FILES)
def test_parameters_match_named_parameters(ckpt_dir: Path, name: str) -> None:
    path = ckpt_dir / name
    info = read_checkpoint(path)
    net = _network(_torch_load(path))
    expected = [(n, tuple(p.shape), TORCH_DTYPES[p.dtype]) for n, p in net.named_parameters()]
    got = [(t.name, t.shape, t.dtype) for t in info.parameters]
    assert got == expected  # names, shapes, dtypes and order
    buffers = [(n, tuple(b.shape)) for n, b in net.named_buffers()]
    assert [(t.name, t.shape) for t in info.buffers] == buffers
    modules = [(n, type(m).__name__) for n, m in net.named_modules()]
    if name == "yolov5n-oldmodel.pt":  # pickled as models.yolo.Model, an alias of DetectionModel
        assert info.modules[0].qualname == "models.yolo.Model"
        modules[0] = ("", "Model")
    assert [(m.path, m.type) for m in info.modules] == modules
    assert not info.hostile


@pytest.mark.parametrize("name", ["yolov5n-state_dict.pt", "yolov5n.safetensors"])
def test_state_dicts_match(ckpt_dir: Path, name: str) -> None:
    info = read_checkpoint(ckpt_dir / name)
    sd = _torch_load(ckpt_dir / "yolov5n-state_dict.pt")
    names = [t.name for t in (*info.parameters, *info.buffers)]
    assert sorted(names) == sorted(sd)
    for t in info.parameters:
        assert t.shape == tuple(sd[t.name].shape)
    assert info.kind == "state_dict"


@pytest.mark.parametrize("name", ["yolov5n.pt", "yolov5n-legacy.pt", "yolov5n.safetensors", "yolov5n-archive.pt"])
def test_tensor_bytes_equal_torch_values(ckpt_dir: Path, name: str) -> None:
    """The launcher rebuilds weights from these bytes, so they must be the real values."""
    info = read_checkpoint(ckpt_dir / name)
    ref = _network(_torch_load(ckpt_dir / "yolov5n.pt")).state_dict()
    for t in (info.parameters[0], info.parameters[-1], info.buffers[1]):
        assert t.location is not None
        raw = bytearray(read_tensor_bytes(ckpt_dir / name, t))
        dtype = {"float16": torch.float16, "float32": torch.float32}[t.location.storage_dtype]
        storage = torch.frombuffer(raw, dtype=dtype)
        value = storage.as_strided(t.shape, t.location.stride, t.location.offset)
        assert torch.equal(value, ref[t.name].to(dtype)), t.name


def test_metadata_of_training_checkpoint(ckpt_dir: Path) -> None:
    info = read_checkpoint(ckpt_dir / "yolov5n-train.pt")
    m = info.metadata
    assert m.epoch == 3 and m.nc == 80 and len(m.names) == 80
    assert m.has_optimizer and m.has_ema
    assert m.training_options["weights"] == "/data/yolov5s.pt"  # a pathlib.Path, read as text
    assert m.training_options["lr"] == pytest.approx(0.01)  # a numpy scalar
    assert "numpy.core.multiarray._reconstruct" in info.globals or "numpy._core.multiarray._reconstruct" in info.globals


def test_layers_and_yaml_split(ckpt_dir: Path) -> None:
    p5 = read_checkpoint(ckpt_dir / "yolov5s.pt")
    assert p5.backbone_layers == 10
    assert [la.section for la in p5.layers].count("backbone") == 10
    assert p5.layers[24].type == "Detect" and p5.layers[24].from_ == (17, 20, 23)
    assert p5.layers[12].type == "Concat" and p5.layers[12].from_ == (-1, 6)
    p6 = read_checkpoint(ckpt_dir / "yolov5n6.pt")
    assert p6.backbone_layers == 12 and p6.layers[-1].index == 33
    focus = read_checkpoint(ckpt_dir / "yolov5s-focus.pt")
    assert focus.layers[0].type == "Focus" and focus.parameters[0].name == "model.0.conv.conv.weight"
    v8 = read_checkpoint(ckpt_dir / "yolov8n.pt")
    assert v8.kind == "ultralytics" and v8.source == "ema"


def test_yolov5_parameter_counts_match_notes(ckpt_dir: Path) -> None:
    assert read_checkpoint(ckpt_dir / "yolov5s.pt").total_params == 7_235_389
    assert read_checkpoint(ckpt_dir / "yolov5n.pt").total_params == 1_872_157


def test_reader_never_imports_torch(ckpt_dir: Path) -> None:
    code = (
        "import sys; from yolofreeze.core.checkpoint.reader import read_checkpoint; "
        f"i = read_checkpoint({str(ckpt_dir / 'yolov5n-train.pt')!r}); "
        "assert i.parameters; print('torch' in sys.modules, 'yolov5' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
