"""``yolofreeze-tui estimate``: the table, the JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
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
        (["--batch", "15", "--gpus", "2"], "multiple of --gpus"),
        (["--batch", "0"], "batch must be 1 or more"),
        (["--batch", "16", "--optimizer", "Lion"], "unknown optimizer"),
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
