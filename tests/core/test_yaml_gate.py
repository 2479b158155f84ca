"""The model-YAML gate: payloads that run under plain yolov5 never run through us.

The corpus (tests/yaml_payloads.py) is real yolov5s checkpoints with clean pickle globals and a
hostile ``model.yaml``. Each LIVE payload is first proven to fire when plain yolov5 builds the
model from the file's YAML; then every command of ours (and the TUI) must refuse it with one line
and exit 3, with its marker file never created.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.yaml_payloads import ALL, LIVE, REFUSED, marker_for, payload_yaml, write_payload_files
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.checkpoint.yamlgate import (
    ACTIVATIONS,
    ARG_STRINGS,
    MODULES,
    TORCH_MODULES,
    YOLOV5_MODULES,
    check_model_yaml,
    gated_cfg,
    shown,
)
from yolofreeze.core.errors import EXIT_HOSTILE, HostileCheckpointError

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()"]
ENV = dict(os.environ, PYTHONWARNINGS="ignore", YOLOv5_VERBOSE="False")
# the key each payload must be refused under (the first problem the gate names)
EXPECTED_KEY = {
    "activation_expr": "activation",
    "activation_arg": "activation",
    "module_expr": "backbone[0].module",
    "module_dotted": "backbone[0].module",
    "module_dunder": "backbone[0].module",
    "arg_expr": "backbone[0].args[0]",
    "arg_upsample_mode": "head[1].args[2]",
    "detect_anchors": "head[14].args[1]",
    "detect_nc": "head[14].args[0]",
    "anchors_text": "anchors",
    "depth_multiple_text": "depth_multiple",
    "nc_text": "nc",
    "from_text": "head[2].from",
    "unknown_key_text": "postprocess",
    "many_layers": "head",
    "huge_number": "backbone[2].number",
}


def _yolov5_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("yolov5")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _official_yamls() -> dict[str, dict[str, Any]]:
    out = {}
    for p in sorted(glob.glob(str(_yolov5_dir() / "models" / "**" / "*.yaml"), recursive=True)):
        d = yaml.safe_load(Path(p).read_text(encoding="utf-8"))
        if isinstance(d, dict) and "backbone" in d:  # hub/anchors.yaml is a table of anchors
            out[Path(p).relative_to(_yolov5_dir()).as_posix()] = d
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, yolov5s: Path) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("yaml-payloads")
    return out, write_payload_files(yolov5s, out)


def _no_markers(out: Path) -> None:
    fired = sorted(p.name for p in out.glob("*.marker"))
    assert not fired, f"payloads ran: {fired}"


# -- the grammar ---------------------------------------------------------------------------------


def test_allowlisted_modules_are_layer_classes_of_the_installed_yolov5() -> None:
    """Each name is a class defined in yolov5's models/{common,yolo,experimental}.py (read with ast)."""
    defined: set[str] = set()
    for f in ("common", "yolo", "experimental"):
        tree = ast.parse((_yolov5_dir() / "models" / f"{f}.py").read_text(encoding="utf-8"))
        defined |= {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    assert set(YOLOV5_MODULES) <= defined, set(YOLOV5_MODULES) - defined
    # classes that open files or build whole models are never a layer a YAML may name
    for name in ("DetectMultiBackend", "AutoShape", "DetectionModel", "Ensemble", "attempt_load"):
        assert name not in MODULES
    import torch.nn as nn

    for name in TORCH_MODULES:
        assert isinstance(getattr(nn, name.removeprefix("nn.")), type) and name.startswith("nn."), name
    for name in ACTIVATIONS:
        assert issubclass(getattr(nn, name), nn.Module), name


def test_every_yaml_shipped_with_yolov5_passes() -> None:
    yamls = _official_yamls()
    assert len(yamls) >= 25  # models/, hub/, segment/
    used_modules = set()
    for name, d in yamls.items():
        v = check_model_yaml(d)
        assert v.ok, (name, [p.describe() for p in v.problems])
        used_modules |= {row[2] for row in d["backbone"] + d["head"]}
    assert used_modules <= set(MODULES)
    leaky = check_model_yaml(yamls["models/hub/yolov5s-LeakyReLU.yaml"]).normalised
    assert leaky is not None and leaky["activation"] == "nn.LeakyReLU(0.1)"


def test_normalised_yaml_equals_every_shipped_yaml() -> None:
    """The gate's copy of each shipped YAML is equal in value: yolov5 builds the same from it."""
    for name, d in _official_yamls().items():
        norm = gated_cfg(d)
        assert norm == d, name
        assert norm is not d and norm["backbone"] is not d["backbone"]


# one of each family: P5, P6, a non-default activation, Ghost and transformer layers, Segment, v3
_BUILT = (
    "models/yolov5s.yaml",
    "models/hub/yolov5n6.yaml",
    "models/hub/yolov5s-LeakyReLU.yaml",
    "models/hub/yolov5s-ghost.yaml",
    "models/hub/yolov5s-transformer.yaml",
    "models/segment/yolov5n-seg.yaml",
    "models/hub/yolov3-tiny.yaml",
)


def test_normalised_yaml_builds_the_same_network(yolov5s: Path) -> None:
    """yolov5's own DetectionModel builds identical parameter names and shapes from the original
    YAML and from the gate's copy (made small: same grammar, seconds not minutes); the copy of the
    yolov5s checkpoint's YAML builds exactly the parameters the file holds."""
    import logging
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from yolov5.models.yolo import DetectionModel
    logging.getLogger("yolov5").disabled = True

    def shapes(cfg: dict[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
        torch.manual_seed(0)
        return [(n, tuple(p.shape)) for n, p in DetectionModel(cfg, ch=3).named_parameters()]

    yamls = _official_yamls()
    for name in _BUILT:
        d = {**yamls[name], "depth_multiple": 0.33, "width_multiple": 0.125}
        assert shapes(d) == shapes(gated_cfg(d)), name
    info = read_checkpoint(yolov5s)
    assert shapes(gated_cfg(info.yaml)) == [(p.name, p.shape) for p in info.parameters]


def test_normalised_copy_holds_our_strings_not_the_files() -> None:
    d = yaml.safe_load((_yolov5_dir() / "models" / "hub" / "yolov5s-LeakyReLU.yaml").read_text())
    norm = gated_cfg(d)
    for row in norm["backbone"] + norm["head"]:
        assert any(row[2] is m for m in MODULES)  # the allowlist's own constant
        for a in row[3]:
            if isinstance(a, str):
                assert any(a is s for s in ARG_STRINGS)
    assert norm["activation"] is not d["activation"]


@pytest.mark.parametrize(
    "text",
    ["nn.SiLU()", "nn.LeakyReLU(0.1)", "nn.LeakyReLU(negative_slope=-0.2, inplace=True)", "nn.ReLU(inplace=True)"],
)
def test_plain_activations_pass(text: str) -> None:
    d = {**_official_yamls()["models/yolov5s.yaml"], "activation": text}
    assert check_model_yaml(d).ok


@pytest.mark.parametrize(
    "text",
    [
        "torch.nn.SiLU()",
        "nn.Module()",
        "nn.SiLU",
        "nn.SiLU(*[])",
        "nn.SiLU(x)",
        "nn.SiLU(inplace=nn)",
        "nn.LeakyReLU('0.1')",
        "nn.LeakyReLU(1e400)",
        "nn.SiLU()()",
        "nn.__class__()",
        "nn.SiLU(\x00)",
        "(lambda: nn.SiLU())()",
        "nn.LeakyReLU(0.1) if 1 else 0",
        "n" * 500,
        "nn.SiLU(" * 200,
    ],
)
def test_activation_expressions_are_refused(text: str) -> None:
    d = {**_official_yamls()["models/yolov5s.yaml"], "activation": text}
    v = check_model_yaml(d)
    assert not v.ok and v.normalised is None
    assert v.problems[0].key == "activation"


def test_refused_text_is_shown_escaped_and_short() -> None:
    d = _official_yamls()["models/yolov5s.yaml"]
    d = {**d, "backbone": [[-1, 1, "\x1b]52;c;cHduZWQ=\x07\x1b[8m" + "x" * 500, [64, 6, 2, 2]], *d["backbone"][1:]]}
    with pytest.raises(HostileCheckpointError) as exc:
        gated_cfg(d, "f.pt")
    msg = str(exc.value)
    assert "\n" not in msg and "\x1b" not in msg and "\x07" not in msg
    assert "backbone[0].module (layer 0)" in msg and "\\x1b]52" in msg
    assert len(msg) < 300
    assert shown(10**5000) == "<int of 16610 bits>"  # repr would raise past 4,300 digits


# -- the corpus ------------------------------------------------------------------------------------


def test_payload_files_keep_an_official_files_globals(corpus: tuple[Path, dict[str, Path]], yolov5s: Path) -> None:
    """Only the YAML differs: the pickle scan alone would call each of these files clean."""
    _, files = corpus
    official = read_checkpoint(yolov5s)
    assert not official.hostile
    for name, path in files.items():
        info = read_checkpoint(path)
        assert set(info.globals) == set(official.globals), name
        assert info.suspicious == ()
        assert info.hostile, name
        assert info.yaml_problems[0].key == EXPECTED_KEY[name], (name, info.yaml_problems[0])
        assert len(info.parameters) == len(official.parameters)


def test_live_payloads_fire_under_plain_yolov5(corpus: tuple[Path, dict[str, Path]]) -> None:
    """torch.load(weights_only=False) of each file runs nothing (clean globals); building yolov5's
    DetectionModel from the YAML it holds runs the payload: the marker appears."""
    out, files = corpus
    script = """
import json, sys, warnings, logging
from pathlib import Path
import torch
warnings.simplefilter("ignore")
from yolov5.models.yolo import DetectionModel
logging.getLogger("yolov5").disabled = True
result = {}
for name, path, marker in json.loads(sys.argv[1]):
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    loaded_clean = not Path(marker).exists()
    try:
        with torch.device("meta"):  # no weights: the payloads run in parse_model, before any
            DetectionModel(ckpt["model"].yaml, ch=3)
    except Exception:
        pass  # the build fails later on meta tensors, or the payload broke it; the marker counts
    result[name] = [loaded_clean, Path(marker).exists()]
print(json.dumps(result))
"""
    jobs = [(n, str(files[n]), str(marker_for(out, n))) for n in LIVE]
    r = subprocess.run(
        [sys.executable, "-c", script, json.dumps(jobs)], capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    try:
        assert result == {n: [True, True] for n in LIVE}
    finally:
        for n in LIVE:
            marker_for(out, n).unlink(missing_ok=True)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=ENV, cwd=ROOT)


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    return lines[0]


def test_inspect_names_key_layer_and_text(corpus: tuple[Path, dict[str, Path]]) -> None:
    out, files = corpus
    for name, path in files.items():
        r = _cli("inspect", str(path))
        assert r.returncode == EXIT_HOSTILE, (name, r.stderr)
        assert f"HOSTILE    model YAML {EXPECTED_KEY[name]}" in r.stdout, (name, r.stdout[:2000])
        assert "parameters 7,235,389" in r.stdout  # what the file holds is still shown
        assert "Traceback" not in r.stderr
        j = _cli("inspect", "--json", str(path))
        assert j.returncode == EXIT_HOSTILE, name
        doc = json.loads(j.stdout)
        assert doc["hostile"] is True and doc["suspicious_globals"] == []
        assert doc["yaml_problems"][0]["key"] == EXPECTED_KEY[name]
    r = _cli("inspect", str(files["module_dotted"]))
    assert "backbone[0].module (layer 0): not an allowed module name: 'os.system'" in r.stdout
    _no_markers(out)


def test_export_writes_the_plan_warns_and_exits_3(corpus: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    out, files = corpus
    for name, path in files.items():
        r = _cli("export", str(path), "--preset", "backbone", "--format", "yolov5")
        assert r.returncode == EXIT_HOSTILE, (name, r.stderr)
        assert r.stdout.strip() == "--freeze 10", name
        line = _one_line(r)
        assert line.startswith("yolofreeze-tui: warning: ") and "is hostile (model YAML" in line, line
    plan = tmp_path / "plan.json"
    r = _cli("export", str(files["activation_expr"]), "--preset", "backbone", "--format", "json", "-o", str(plan))
    assert r.returncode == EXIT_HOSTILE and plan.is_file()
    _no_markers(out)


def test_estimate_and_train_refuse_with_one_line(corpus: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    out, files = corpus
    for name, path in files.items():
        start = time.monotonic()
        r = _cli("estimate", str(path), "--preset", "backbone", "--batch", "2", "--img", "64", "--gpu-mem", "8")
        assert r.returncode == EXIT_HOSTILE, (name, r.stderr)
        line = _one_line(r)
        assert "refusing to estimate memory for it" in line and EXPECTED_KEY[name] in line, line
        assert r.stdout == ""
        assert time.monotonic() - start < 30, name  # a hang guard; the bench measures the 2 s target
        r = _cli("train", str(path), "--preset", "backbone", "--data", str(tmp_path / "d.yaml"), "--epochs", "1")
        assert r.returncode == EXIT_HOSTILE, (name, r.stderr)
        assert "refusing to train from it" in _one_line(r)
    _no_markers(out)


def test_every_build_site_refuses_without_the_reader(corpus: tuple[Path, dict[str, Path]], yolov5s: Path) -> None:
    """The door is at the build itself: the tracer handed a payload YAML directly still refuses."""
    out, _ = corpus
    from yolofreeze.core.memory.tracing import trace

    base = read_checkpoint(yolov5s).yaml
    assert base is not None
    for name in LIVE:
        with pytest.raises(HostileCheckpointError, match="refusing to build the model"):
            trace.skeleton(json.dumps(payload_yaml(base, name, marker_for(out, name))), 80)
    _no_markers(out)


def test_every_model_build_in_core_goes_through_the_gate() -> None:
    """An ast walk of core/: every call that builds a yolov5 model takes gated_cfg(...) as its YAML.

    A builder is any call of a name ending in ``Model`` (DetectionModel, Model, tm.Model, a
    subclass) or ``model_cls``; nothing in core may call parse_model at all.
    """
    sites: list[str] = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name | ast.Attribute):
                name = node.id if isinstance(node, ast.Name) else node.attr
                assert name != "parse_model", f"{path}: parse_model used directly"
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if not (name.endswith("Model") or name == "model_cls") or name == "CachingAllocatorModel":
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno} {name}(...)"
            first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "cfg"), None)
            ok = isinstance(first, ast.Call) and isinstance(first.func, ast.Name) and first.func.id == "gated_cfg"
            assert ok, f"{where} builds a model from something other than gated_cfg(...)"
            sites.append(where)
    # the tracer, the runner's input checkpoint and the checkpoint builder: the test is not vacuous
    assert {s.split(":")[0] for s in sites} >= {
        "core/memory/tracing/skeleton.py",
        "core/training/child/runner.py",
        "core/training/child/build.py",
    }


def test_corpus_covers_the_issue() -> None:
    assert set(EXPECTED_KEY) == set(ALL) and not set(LIVE) & set(REFUSED)


@pytest.mark.parametrize("name", ["activation_expr", "module_dotted", "detect_anchors"])
async def test_tui_opens_the_file_but_never_builds_it(corpus: tuple[Path, dict[str, Path]], name: str) -> None:
    """The TUI shows the tree and the red banner naming the YAML key; its automatic estimate
    (the real one, which would build the model) never starts, before or after a plan change."""
    from yolofreeze.tui.app import make_app, traced_estimate
    from yolofreeze.tui.screens.main import MainScreen
    from yolofreeze.tui.widgets.hostile_banner import HostileBanner
    from yolofreeze.tui.widgets.summary import PlanSummary

    out, files = corpus
    calls: list[str] = []

    def recording(info: Any, frozen: frozenset[str], config: Any, cancelled: Any) -> Any:
        calls.append(info.path)
        return traced_estimate(info, frozen, config, cancelled)

    app = make_app(files[name], estimator=recording, estimate_delay=0.01)
    async with app.run_test(size=(120, 30)) as pilot:
        deadline = time.monotonic() + 30
        while not isinstance(app.screen, MainScreen) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert isinstance(app.screen, MainScreen)
        for keys in ((), ("b",)):  # on open, then after an edit that reschedules the estimate
            await pilot.press(*keys)
            await pilot.pause(0.2)  # twenty times the debounce: an estimate would have started
            await app.workers.wait_for_complete()
            banner = str(app.screen.query_one(HostileBanner).render())
            assert "HOSTILE FILE" in banner and EXPECTED_KEY[name] in banner, banner
            peak = app.screen.query_one(PlanSummary).peak_line().plain
            assert "not run for a hostile file" in peak, peak
        assert calls == []
    _no_markers(out)
