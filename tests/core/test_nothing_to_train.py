"""A plan that leaves nothing trainable: refused with one line before anything traces or launches.

train.py would fail at its first backward pass (the loss has no gradient); the estimate would
crash the same way. Presets and ``--freeze N`` plans that would do it are refused with the range
that leaves the output layer trainable.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.errors import EXIT_BAD_DATA, EXIT_USAGE, PlanError
from yolofreeze.core.memory import estimator
from yolofreeze.core.memory.estimator import TrainConfig, estimate_memory, max_batch
from yolofreeze.core.plan.freeze import (
    NothingToTrainError,
    first_n_limit,
    import_plan,
    nothing_to_train,
    preset,
)

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()"]


@pytest.fixture(scope="module")
def info(yolov5s: Path) -> ModelInfo:
    return read_checkpoint(yolov5s)


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory, info: ModelInfo) -> Path:
    """A names plan file freezing every parameter of yolov5s (what toggling every row gives)."""
    path = tmp_path_factory.mktemp("plans") / "everything.txt"
    path.write_text("".join(f"{p.name}\n" for p in info.parameters))
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def one_line(r: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert words in r.stderr, r.stderr


def test_the_check_says_why_only_when_every_parameter_is_frozen(info: ModelInfo) -> None:
    names = [p.name for p in info.parameters]
    line = nothing_to_train(info, names)
    assert line is not None
    assert line.startswith("nothing left to train: ") and "train.py would fail" in line and "model.24." in line
    assert nothing_to_train(info, names[1:]) is None  # one trainable tensor is enough for train.py
    assert nothing_to_train(info, preset(info, "all").frozen) is None


def test_the_estimator_refuses_before_tracing(info: ModelInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_trace() -> None:
        raise AssertionError("traced a plan with nothing to train")

    monkeypatch.setattr(estimator, "_import_trace", no_trace)
    frozen = frozenset(p.name for p in info.parameters)
    with pytest.raises(NothingToTrainError, match="nothing left to train") as e:
        estimate_memory(info, frozen, TrainConfig())
    assert e.value.exit_code == EXIT_BAD_DATA
    with pytest.raises(NothingToTrainError):
        max_batch(info, frozen, TrainConfig(), 24 << 30)


def test_first_n_and_freeze_n_stop_where_the_output_layer_would_freeze(info: ModelInfo) -> None:
    assert first_n_limit(info) == 24
    assert preset(info, "first:24").frozen == preset(info, "all").frozen
    for refuse in (lambda: preset(info, "first:25"), lambda: import_plan(info, "--freeze 25\n")):
        with pytest.raises(PlanError, match=r"takes 0\.\.24 for this model, got 25 .*nothing left to train"):
            refuse()


def test_estimate_cli_with_everything_frozen_is_one_line_exit_4(yolov5s: Path, everything: Path) -> None:
    r = cli("estimate", str(yolov5s), "--plan", str(everything), "--batch", "16", "--img", "640")
    one_line(r, EXIT_BAD_DATA, "nothing left to train: every parameter is frozen")
    assert r.stdout == ""


def test_estimate_cli_refuses_first_25_with_the_valid_range(yolov5s: Path) -> None:
    r = cli("estimate", str(yolov5s), "--preset", "first:25", "--batch", "16", "--img", "640")
    one_line(r, EXIT_USAGE, "first:N takes 0..24 for this model, got 25")


def test_train_cli_with_everything_frozen_exits_4_before_launching(
    yolov5s: Path, everything: Path, tmp_path: Path
) -> None:
    from yolofreeze.core.training.dataset import make_dataset

    data = make_dataset(tmp_path / "ds", n_train=2, n_val=1, size=64)
    project = tmp_path / "runs"
    r = cli(
        "train", str(yolov5s), "--plan", str(everything), "--data", str(data), "--device", "cpu",
        "--project", str(project), "--epochs", "1",
    )  # fmt: skip
    one_line(r, EXIT_BAD_DATA, "nothing left to train: every parameter is frozen")
    assert not project.exists()  # nothing was started or recorded
