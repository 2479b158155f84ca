"""``yolofreeze-tui estimate``: the table, the JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from yolofreeze.tui.cli import main


def test_table_shows_plan_against_no_freeze_and_the_fit(yolov5n: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["estimate", str(yolov5n), "--preset", "backbone", "--batch", "16", "--img", "640", "--gpu-mem", "8"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "no freeze" in out and "saved activations" in out and "= nvidia-smi" in out
    assert "accumulate 4" in out
    assert "batch 16 fits" in out
    assert "largest batch that fits: " in out


def test_a_gpu_too_small_says_it_does_not_fit(yolov5n: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["estimate", str(yolov5n), "--preset", "backbone", "--batch", "64", "--img", "640", "--gpu-mem", "1"])
    assert rc == 0
    assert "does NOT fit" in capsys.readouterr().out


def test_json_carries_both_breakdowns_and_the_saving(yolov5n: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["estimate", str(yolov5n), "--preset", "backbone", "--batch", "16", "--img", "640", "--gpu-mem", "8", "--json"]
    )
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert data["plan"]["peak_reserved"] < data["baseline"]["peak_reserved"]
    assert data["saved_bytes"] == data["baseline"]["peak_reserved"] - data["plan"]["peak_reserved"]
    assert data["fits"] is True and data["max_batch"] >= 16
    assert data["accumulate"] == 4 and data["per_gpu_batch"] == 16


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--batch", "15", "--gpus", "2"], "batch 15 is not a multiple of 2 GPUs"),
        (["--batch", "0"], "batch must be 1 or more"),
        (["--batch", "16", "--optimizer", "Lion"], "invalid choice: 'Lion'"),
        (["--batch", "16", "--gpu-mem", "0"], "--gpu-mem"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    yolov5n: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: str
) -> None:
    rc = main(["estimate", str(yolov5n), "--preset", "backbone", "--img", "640", *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert words in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_checkpoint_without_yaml_is_an_error_not_a_traceback(
    ckpt_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        ["estimate", str(ckpt_dir / "yolov5n-state_dict.pt"), "--preset", "none", "--batch", "16", "--img", "640"]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "YAML" in err and "Traceback" not in err


def _estimate_json(path: Path, img: int, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    rc = main(["estimate", str(path), "--preset", "backbone", "--batch", "8", "--img", str(img), "--json"])
    assert rc == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_a_size_below_two_grid_cells_is_estimated_at_the_size_train_py_uses(
    yolov5n: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """train.py trains --img 32 on a stride-32 model at 64 (its floor of two grid cells): the
    estimate is the 64 px one, and the table says it was rounded up."""
    at_32, at_64, at_96 = (_estimate_json(yolov5n, img, capsys) for img in (32, 64, 96))
    assert at_32["effective_img"] == 64
    assert at_32["plan"] == at_64["plan"] and at_32["baseline"] == at_64["baseline"]
    assert at_96["plan"] != at_64["plan"]  # the size does reach the figures
    rc = main(["estimate", str(yolov5n), "--preset", "backbone", "--batch", "8", "--img", "32"])
    assert rc == 0
    assert "img 64 (rounded up from 32)" in capsys.readouterr().out


def test_a_p6_model_rounds_to_its_stride_64_grid(ckpt_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The grid comes from the checkpoint's own strides (8 … 64 for P6): 600 trains at 640, 64 at 128."""
    p6 = ckpt_dir / "yolov5n6.pt"
    assert _estimate_json(p6, 600, capsys)["effective_img"] == 640
    assert _estimate_json(p6, 64, capsys)["effective_img"] == 128


def _cold_estimate(path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "yolofreeze.tui.cli", "estimate", str(path), "--preset", "backbone"]
    return subprocess.run([*cmd, "--batch", "8", "--img", "128", *flags], capture_output=True, text=True, timeout=300)


def test_a_cold_estimate_says_each_slow_step_as_it_starts(yolov5n: Path) -> None:
    r = _cold_estimate(yolov5n, "--progress")
    assert r.returncode == 0, r.stderr
    steps = [line for line in r.stderr.splitlines() if line.startswith("estimate: ")]
    assert [s.split(" … ")[0] for s in steps[:4]] == [
        "estimate: importing torch and yolov5",
        "estimate: tracing a training step for no freezing at two sizes",
        "estimate: tracing a training step for the plan (99 tensors frozen) at two sizes",
        "estimate: tracing the validation pass at two sizes",
    ]
    assert all(re.search(r"\(\d+\.\d s\)$", s) for s in steps)  # when each started, from the command's start
    assert "no freeze" in r.stdout  # the table itself is unchanged on stdout


def test_progress_is_off_when_stderr_is_not_a_terminal(yolov5n: Path) -> None:
    r = _cold_estimate(yolov5n, "--gpu-mem", "8")
    assert r.returncode == 0 and "estimate: " not in r.stderr and "no freeze" in r.stdout
