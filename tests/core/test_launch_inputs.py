"""Runs of the same checkpoint share one rebuilt copy of it; prune removes it only when unused.

The copies are built by the trainer's own builder (yolov5's model class, the real tensors), as a
run's start-up does; only the training is left out.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.core import launch_helpers
from tests.core.test_cli import run
from yolofreeze.core.thirdparty import import_yolov5
from yolofreeze.core.training.child.runner import build_input_checkpoint
from yolofreeze.core.training.inputs import inputs_root_for, provide_input
from yolofreeze.core.training.runs import write_json_atomic

pytestmark = pytest.mark.slow  # each builds real yolov5 models (torch import included): 5-40 s


def disk_bytes(root: Path) -> int:
    """Bytes on disk under ``root``, each file (inode) counted once, as du counts them."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def start_run(state: Path, run_id: str, ckpt: Path, ended: bool = True) -> Path:
    """A run record plus the input copy its trainer would make at start-up."""
    rec = launch_helpers.make_record(state, run_id, created=time.time() - 3600)
    if ended:
        write_json_atomic(rec.dir / "status.json", {"phase": "done", "ending": "finished"})
        write_json_atomic(rec.dir / "exit.json", {"returncode": 0})
    model = import_yolov5("yolov5.models.yolo").DetectionModel
    provided = provide_input(
        rec.dir / "input.pt", str(ckpt), lambda p: build_input_checkpoint(str(ckpt), p, model), inputs_root_for(rec.dir)
    )
    assert provided.shared.parent == state / "inputs"
    return rec.dir


@pytest.fixture
def ckpt(yolov5n: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "mine.pt"
    shutil.copyfile(yolov5n, copy)
    return copy


def test_two_runs_of_one_checkpoint_store_it_once(ckpt: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    a = start_run(state, "20261101-100000-a-0001", ckpt)
    one_run = disk_bytes(state)
    b = start_run(state, "20261101-110000-b-0002", ckpt)
    size = (a / "input.pt").stat().st_size
    assert size > 1_000_000  # a real rebuilt yolov5n, not an empty stand-in
    assert (a / "input.pt").samefile(b / "input.pt")
    assert len(list((state / "inputs").glob("*.pt"))) == 1
    assert disk_bytes(state) - one_run < size // 10  # the second run added its record, not a copy
    assert "reused" in (b / "input.json").read_text()


def test_a_changed_stored_copy_is_detected_and_rebuilt(ckpt: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    a = start_run(state, "20261101-100000-a-0001", ckpt)
    shared = next((state / "inputs").glob("*.pt"))
    good = shared.read_bytes()
    with open(shared, "r+b") as f:  # damaged in place: every run linking it sees the change
        f.seek(len(good) // 2)
        f.write(b"\0" * 64)
    b = start_run(state, "20261101-110000-b-0002", ckpt)
    assert '"how": "rebuilt"' in (b / "input.json").read_text()
    assert (b / "input.pt").read_bytes() != (a / "input.pt").read_bytes()
    assert (b / "input.pt").samefile(shared)


def test_another_checkpoint_gets_its_own_copy(ckpt: Path, yolov5s: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    a = start_run(state, "20261101-100000-a-0001", ckpt)
    b = start_run(state, "20261101-110000-b-0002", yolov5s)
    assert not (a / "input.pt").samefile(b / "input.pt")
    assert len(list((state / "inputs").glob("*.pt"))) == 2


def test_prune_keeps_a_shared_copy_while_a_run_uses_it(ckpt: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"YOLOFREEZE_STATE_DIR": str(state)}
    start_run(state, "20261101-100000-a-0001", ckpt)
    start_run(state, "20261101-110000-b-0002", ckpt)
    shared = next((state / "inputs").glob("*.pt"))

    r = run("runs", "--rm", "100000-a", env=env)
    assert r.returncode == 0, r.stderr
    assert shared.is_file() and "input checkpoint copy" not in r.stdout  # run b still trains from it

    dry = run("runs", "--prune", "--dry-run", env=env)
    assert dry.returncode == 0 and f"would remove the input checkpoint copy {shared.name}" in dry.stdout
    assert shared.is_file()

    r = run("runs", "--prune", env=env)
    assert r.returncode == 0, r.stderr
    assert not shared.exists() and f"removed the input checkpoint copy {shared.name}" in r.stdout
    assert "MB" in r.stdout.splitlines()[-1]  # the freed copy counts in the total
