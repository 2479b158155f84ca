"""The headless CLI as a user runs it: real processes, exit codes, outputs, no torch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.plan.freeze import import_plan, preset

CLI = [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()"]
NO_TORCH = (
    "import sys, runpy; sys.argv = ['yolofreeze-tui'] + sys.argv[1:]\n"
    "from yolofreeze.tui.cli import main\n"
    "rc = main()\n"
    "sys.stderr.write('TORCH=%s\\n' % ('torch' in sys.modules))\n"
    "sys.exit(rc)\n"
)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_inspect_json_matches_reader(yolov5s: Path) -> None:
    r = run("inspect", "--json", str(yolov5s))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["total_params"] == 7_235_389
    assert len(doc["parameters"]) == 177 and doc["parameters"][0]["name"] == "model.0.conv.weight"
    assert doc["backbone_layers"] == 10 and doc["layers"][24]["type"] == "Detect"
    assert doc["hostile"] is False


@pytest.mark.parametrize(
    ("name", "strides"),
    [
        ("yolov5s.pt", [8, 16, 32]),
        ("yolov5n6.pt", [8, 16, 32, 64]),  # built from yolov5's P6 YAML: a stride-64 level
        ("yolov5n-legacy.pt", [8, 16, 32]),  # the pre-1.6 torch container
        ("yolov5n-state_dict.pt", []),  # a bare state dict does not carry them
    ],
)
def test_inspect_json_shows_the_checkpoints_own_strides(ckpt_dir: Path, name: str, strides: list[int]) -> None:
    r = run("inspect", "--json", str(ckpt_dir / name))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metadata"]["stride"] == strides
    assert f'"stride":{json.dumps(strides, separators=(",", ":"))}' in r.stdout  # whole numbers, as yolov5 has them
    text = run("inspect", str(ckpt_dir / name)).stdout
    if strides:
        step = max(strides[-1], 32)
        assert f"strides    {', '.join(map(str, strides))} (image sizes step by {step})" in text
    else:
        assert "strides" not in text


def test_a_nonsense_stride_tensor_reads_as_no_strides(yolov5s: Path, tmp_path: Path) -> None:
    """NaN strides would make the JSON invalid and the image-size step meaningless: they read as none."""
    import struct
    import zipfile

    bad = tmp_path / "nan-stride.pt"
    real = struct.pack("<3f", 8, 16, 32)
    with zipfile.ZipFile(yolov5s) as src, zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as dst:
        hits = 0
        for item in src.infolist():
            data = src.read(item)
            if data == real:
                data, hits = struct.pack("<3f", float("nan"), 16, float("inf")), hits + 1
            dst.writestr(item, data)
    assert hits == 1
    r = run("inspect", "--json", str(bad))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert doc["metadata"]["stride"] == [] and doc["total_params"] == 7_235_389


@pytest.mark.parametrize("sub", [["inspect"], ["export", "--preset", "backbone", "--format", "json"]])
def test_inspect_and_export_never_import_torch(yolov5s: Path, sub: list[str]) -> None:
    r = subprocess.run(
        [sys.executable, "-c", NO_TORCH, sub[0], str(yolov5s), *sub[1:]], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert "TORCH=False" in r.stderr


@pytest.mark.parametrize(
    ("preset_name", "expected"), [("backbone", "--freeze 10"), ("all", "--freeze 24"), ("none", "--freeze 0")]
)
def test_export_yolov5(yolov5s: Path, preset_name: str, expected: str) -> None:
    r = run("export", str(yolov5s), "--preset", preset_name, "--format", "yolov5")
    assert r.returncode == 0 and r.stdout.strip() == expected


def test_export_to_file_then_plan_round_trip(yolov5s: Path, tmp_path: Path) -> None:
    out = tmp_path / "plans" / "plan.json"
    r = run("export", str(yolov5s), "--preset", "backbone", "--format", "json", "-o", str(out))
    assert r.returncode == 0 and r.stdout == ""
    doc = json.loads(out.read_text())
    info = read_checkpoint(yolov5s)
    assert doc["checkpoint"]["sha256"] == info.sha256()
    assert doc["yolov5"] == "--freeze 10"
    assert doc["counts"]["frozen_params"] == preset(info, "backbone").counts.frozen_params
    r2 = run("export", str(yolov5s), "--plan", str(out), "--format", "names")
    assert r2.returncode == 0
    assert import_plan(info, r2.stdout).plan.frozen == preset(info, "backbone").frozen
    assert [p.name for p in tmp_path.joinpath("plans").iterdir()] == ["plan.json"]  # no temp files left


def test_export_of_sub_layer_plan_to_yolov5_explains(yolov5s: Path, tmp_path: Path) -> None:
    plan = tmp_path / "p.txt"
    plan.write_text("model.0.conv.weight\nmodel.13.cv1.bn.weight\n")
    r = run("export", str(yolov5s), "--plan", str(plan), "--format", "yolov5")
    assert r.returncode == 2
    assert "whole layers" in r.stderr and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(yolov5s: Path, tmp_path: Path) -> None:
    for args in (
        ["export", str(yolov5s)],
        ["export", str(yolov5s), "--preset", "bogus"],
        ["inspect"],
        ["export", str(yolov5s), "--plan", str(tmp_path / "missing.json")],
        ["--no-such-flag"],
    ):
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_missing_checkpoint_exit_1(tmp_path: Path) -> None:
    r = run("inspect", str(tmp_path / "yolov5m.pt"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"yolofreeze-tui: {tmp_path / 'yolov5m.pt'}: no such file"


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("yolofreeze-tui ")
    h = run("--help")
    assert h.returncode == 0 and "inspect" in h.stdout and "export" in h.stdout


def test_demo_checkpoint_is_built_locally(tmp_path: Path) -> None:
    r = run("inspect", "--demo", env={"YOLOFREEZE_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "7,235,389" in r.stdout
    assert (tmp_path / "demo-yolov5s.pt").is_file()
