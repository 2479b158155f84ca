"""SVG snapshots of the launch form and the runs screen at 80x24 and of a finished run's monitor at
200x50; each test also asserts the state the picture shows.

Update after an intended change with ``pytest tests/tui/test_monitor_snapshots.py --snapshot-update``
and look at the report before committing. Paths are relative and times fixed, so the pictures do
not depend on the machine.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from tests.core.launch_helpers import make_record
from tests.tui.test_launch_form import no_launch
from tests.tui.test_monitor_runs_screen import RESULTS_HEAD, Host, screen_text
from tests.tui.tui_support import wait_for
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.monitoring.gpu import GpuSample
from yolofreeze.core.plan.freeze import preset
from yolofreeze.core.training.runs import write_json_atomic
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.monitor_app import MonitorApp
from yolofreeze.tui.screens.launch import LaunchScreen
from yolofreeze.tui.screens.runs import RunsScreen
from yolofreeze.tui.widgets.epoch_table import EpochTable

NOON = time.mktime((2026, 11, 30, 12, 0, 0, 0, 0, -1))  # shown as local time: fixed on this machine


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield tmp_path
    monkeypatch.undo()
    time.tzset()


class NoSamples:
    def sample(self, pids: Sequence[int]) -> GpuSample:
        raise RuntimeError("no sampler in this picture")

    def close(self) -> None:
        pass


def finished(root: Path, run_id: str, created: float, save_dir: str = "") -> None:
    rec = make_record(root, run_id, log="Epoch 2/3 done\n", created=created, frozen_tensors=99)
    write_json_atomic(rec.dir / "exit.json", {"returncode": 0})
    write_json_atomic(rec.dir / "status.json", {"ending": "finished", "phase": "done", "save_dir": save_dir})


def test_launch_form_80x24_with_problems(snap_compare: Any, yolov5n: Path, here: Path) -> None:
    """Every field on one row; the result line above the form says "not launched: 2 problem(s) to
    fix (data YAML, batch (total) …)"; each problem is a red row under its field; the cursor is in
    the data YAML field."""
    shutil.copyfile(yolov5n, here / "yolov5n.pt")
    info = read_checkpoint("yolov5n.pt")
    screen = LaunchScreen(info, preset(info, "backbone"), AppDeps(state_dir=here / "state", launcher=no_launch))
    seen: dict[str, str] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        pilot.app.screen.query_one("#in-data", Input).value = "missing.yaml"
        pilot.app.screen.query_one("#in-batch", Input).value = "lots"
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "not launched" in screen_text(pilot.app), "the refusal")
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False  # the picture must not depend on when the cursor blinked
        await pilot.pause()
        seen["text"] = screen_text(pilot.app)

    assert snap_compare(Host(screen), terminal_size=(80, 24), run_before=run_before)
    assert "not launched: 2 problem(s) to fix" in seen["text"] and "'lots' is not a whole number" in seen["text"]


def test_runs_screen_80x24_delete_question(snap_compare: Any, here: Path) -> None:
    """Two finished runs, newest first; `d` on the newest asks whether to delete its record, the
    question wrapped whole inside the dialog."""
    # relative paths: the record's bytes (shown in the question) must not depend on the tmp path
    finished(Path("."), "20261130-100000-old-0001", NOON - 3600)
    finished(Path("."), "20261130-110000-new-0002", NOON)
    seen: dict[str, str] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        table = pilot.app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "both runs")
        await pilot.press("d")
        await wait_for(pilot, lambda: "Delete the record" in screen_text(pilot.app), "the question")
        await pilot.pause()
        seen["text"] = screen_text(pilot.app)

    app = Host(RunsScreen(AppDeps(state_dir=Path("."))))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    folder = sum(f.stat().st_size for f in (here / "runs" / "20261130-110000-new-0002").iterdir())
    assert f"Delete the record of run 20261130-110000-new-0002 ({folder} B)?" in " ".join(seen["text"].split())
    assert "no other run uses it." in seen["text"]


def test_monitor_200x50_finished_run(snap_compare: Any, here: Path) -> None:
    """A finished 3-epoch run at 200x50: the 3-row loss/mAP curves and the per-epoch table (epoch 3
    on top) fill the screen; the log is a short strip above the FINISHED banner. The sampler gives
    nothing here ("sampling stopped" on the note line): whether a finished run's first sample
    lands before its ending is shown is a race the picture must not depend on."""
    save = here / "exp"
    save.mkdir()
    rows = [f"{e},0.1{e},0.2{e},0.3{e},0.4,0.5,0.6{e},0.3{e},0.05,0.04,0.03,0.01,0.01,0.01" for e in range(3)]
    lines = [",".join(f"{c:>20}" for c in ln.split(",")) for ln in (RESULTS_HEAD, *rows)]
    (save / "results.csv").write_text("\n".join(lines) + "\n")
    finished(Path("."), "20261130-110000-done-0001", NOON, save_dir="exp")  # paths shown are relative
    seen: dict[str, int] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        def epochs() -> int:
            found = pilot.app.screen.query(EpochTable)
            return found.first().row_count if found else 0

        await wait_for(pilot, lambda: epochs() == 3, "the epochs")
        await wait_for(pilot, lambda: "FINISHED" in screen_text(pilot.app), "the ending")
        await wait_for(pilot, lambda: "sampling stopped" in screen_text(pilot.app), "the sampler's note")
        await pilot.pause()
        seen["rows"] = epochs()

    deps = AppDeps(state_dir=Path("."), gpu_sampler_factory=NoSamples)
    app = MonitorApp("20261130-110000-done-0001", deps, interval=0.25)
    assert snap_compare(app, terminal_size=(200, 50), run_before=run_before)
    assert seen["rows"] == 3
