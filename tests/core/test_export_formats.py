"""`export -o FILE`: the format follows the file's extension; a contradiction is refused, not written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.test_cli import run
from yolofreeze.core.plan.formats import format_for_path, path_for, stem_of


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("plan.json", "json"),
        ("PLAN.JSON", "json"),
        ("yolov5s.freeze.args.txt", "yolov5"),
        ("freeze.py", "python"),
        ("x.ultralytics.txt", "ultralytics"),
        ("x.names.txt", "names"),
        ("notes.txt", None),  # three formats are text: a bare .txt names none
        ("plan", None),
        (".json", None),  # a hidden file called ".json" has no stem, not a json extension
    ],
)
def test_format_for_path(name: str, fmt: str | None) -> None:
    assert format_for_path(name) == fmt


def test_path_and_stem_round_trip() -> None:
    for fmt in ("yolov5", "python", "ultralytics", "json", "names"):
        p = path_for("runs/yolov5s.freeze", fmt)
        assert format_for_path(p) == fmt and stem_of(p) == "runs/yolov5s.freeze"


def test_json_extension_without_format_writes_a_plan_file(yolov5s: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    r = run("export", str(yolov5s), "--preset", "backbone", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["yolov5"] == "--freeze 10"  # a plan document, not "--freeze 10"


def test_names_extension_without_format(yolov5s: Path, tmp_path: Path) -> None:
    out = tmp_path / "backbone.names.txt"
    r = run("export", str(yolov5s), "--preset", "backbone", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text().splitlines()[0] == "model.0.conv.weight"


def test_contradicting_format_and_extension_is_refused_and_writes_nothing(yolov5s: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    r = run("export", str(yolov5s), "--preset", "backbone", "-f", "yolov5", "-o", str(out))
    assert r.returncode == 2 and not out.exists()
    assert len(r.stderr.strip().splitlines()) == 1 and "names the json format" in r.stderr
    assert "Traceback" not in r.stderr


def test_stdout_and_plain_txt_keep_the_yolov5_default(yolov5s: Path, tmp_path: Path) -> None:
    assert run("export", str(yolov5s), "--preset", "backbone").stdout == "--freeze 10\n"
    out = tmp_path / "args.txt"  # ".txt" alone names no format: the default applies
    assert run("export", str(yolov5s), "--preset", "backbone", "-o", str(out)).returncode == 0
    assert out.read_text() == "--freeze 10\n"
