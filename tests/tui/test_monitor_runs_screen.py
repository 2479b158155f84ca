"""The runs screen at 80x24: it refreshes by itself, deletes an ended run's record after asking, and
refuses a live one; the monitor's stop question is readable whole at 80 columns."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from textual.app import App
from textual.widgets import DataTable

import yolofreeze.tui
from tests.core.launch_helpers import make_record
from tests.tui.test_monitor import record
from tests.tui.test_monitor_launch_runs import Host as BareHost
from tests.tui.tui_support import wait_for
from yolofreeze.core.monitoring.gpu import ProcessSampler
from yolofreeze.core.training.runs import RunRecord, write_json_atomic
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.screens.confirm import ConfirmScreen
from yolofreeze.tui.screens.runs import RunsScreen


class Host(BareHost):
    """The runs screen with the app's own stylesheet, as users see it."""

    CSS_PATH = str(Path(yolofreeze.tui.__file__).parent / "app.tcss")


def screen_text(app: App[None]) -> str:
    """The words the terminal shows (the top screen), rows joined by spaces, box drawing left out
    (a dialog's borders sit between the rows of its wrapped text)."""
    rows = (
        "".join(" " if "\u2500" <= ch <= "\u259f" else ch for ch in strip.text)
        for strip in app.screen._compositor.render_strips()
    )
    return " ".join(" ".join(row.split()) for row in rows)


def ended(root: Path, run_id: str, created: float) -> RunRecord:
    rec = make_record(root, run_id, log="x\n", created=created)
    write_json_atomic(rec.dir / "exit.json", {"returncode": 0})
    write_json_atomic(rec.dir / "status.json", {"ending": "finished"})
    return rec


@pytest.fixture
def sleeper() -> subprocess.Popen[bytes]:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield p
    p.kill()
    p.wait()


def deps(root: Path) -> AppDeps:
    return AppDeps(state_dir=root, gpu_sampler_factory=lambda: ProcessSampler())


async def test_runs_list_refreshes_itself_newest_first(tmp_path: Path) -> None:
    ended(tmp_path, "20261130-100000-old-0001", time.time() - 60)
    app = Host(RunsScreen(deps(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the first run")
        ended(tmp_path, "20261130-110000-new-0002", time.time())  # launched elsewhere (the CLI)
        await wait_for(pilot, lambda: table.row_count == 2, "the new run, without pressing r", timeout=15)
        assert str(table.get_row_at(0)[0]) == "20261130-110000-new-0002"


async def test_delete_asks_then_removes_an_ended_run(tmp_path: Path) -> None:
    rec = ended(tmp_path, "20261130-100000-done-0001", time.time())
    app = Host(RunsScreen(deps(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the run")
        await pilot.press("d")
        await wait_for(pilot, lambda: "Delete the record" in screen_text(app), "the question")
        text = screen_text(app)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Delete the record of run 20261130-100000-done-0001" in text
        assert "a shared input copy goes only when no other run uses it." in text  # its last words: not clipped
        assert rec.dir.exists()
        await pilot.press("y")
        await wait_for(pilot, lambda: not rec.dir.exists(), "the record removed")
        await wait_for(pilot, lambda: table.row_count == 0, "the list emptied")


async def test_delete_refuses_a_live_run(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    live = record(tmp_path, "20261130-100000-live-0001", sleeper.pid, psutil.Process(sleeper.pid).create_time(), "")
    app = Host(RunsScreen(deps(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the run")
        await pilot.press("d")
        await wait_for(pilot, lambda: any("stop it first" in n.message for n in app._notifications), "the refusal")
        assert not isinstance(app.screen, ConfirmScreen) and live.dir.exists()


async def test_prune_removes_only_ended_runs(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    a = ended(tmp_path, "20261130-090000-a-0001", time.time() - 100)
    b = ended(tmp_path, "20261130-100000-b-0002", time.time() - 50)
    live = record(tmp_path, "20261130-110000-live-0003", sleeper.pid, psutil.Process(sleeper.pid).create_time(), "")
    app = Host(RunsScreen(deps(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, "the runs")
        await pilot.press("p")
        await wait_for(pilot, lambda: "all 2 ended runs" in screen_text(app), "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 1, "the ended runs gone from the list")
        assert not a.dir.exists() and not b.dir.exists() and live.dir.exists()


async def test_stop_question_is_whole_at_80_columns(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    from yolofreeze.tui.monitor_app import MonitorApp

    pid_time = psutil.Process(sleeper.pid).create_time()
    record(tmp_path, "live", sleeper.pid, pid_time, "Epoch 0/9\n", options={"frozen_params": 1234567})
    app = MonitorApp("live", deps(tmp_path), interval=0.25)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "99 tensors (1,234,567 parameters) frozen" in screen_text(app), "the title")
        await pilot.press("s")
        await wait_for(pilot, lambda: "Stop run live?" in screen_text(app), "the stop question")
        assert "last.pt keeps the last finished epoch." in screen_text(app)
        await pilot.press("n")


RESULTS_HEAD = (
    "epoch,train/box_loss,train/obj_loss,train/cls_loss,metrics/precision,metrics/recall,"
    "metrics/mAP_0.5,metrics/mAP_0.5:0.95,val/box_loss,val/obj_loss,val/cls_loss,x/lr0,x/lr1,x/lr2"
)


def run_with_results(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    save = tmp_path / "exp"
    save.mkdir()
    rows = [f"{e},0.1{e},0.2{e},0.3{e},0.4,0.5,0.6{e},0.3{e},0.05,0.04,0.03,0.01,0.01,0.01" for e in range(3)]
    # yolov5 pads every column name and value to 20 characters
    lines = [",".join(f"{c:>20}" for c in ln.split(",")) for ln in (RESULTS_HEAD, *rows)]
    (save / "results.csv").write_text("\n".join(lines) + "\n")
    rec = record(tmp_path, "live", sleeper.pid, psutil.Process(sleeper.pid).create_time(), "x\n" * 500)
    write_json_atomic(rec.dir / "status.json", {"phase": "training", "save_dir": str(save)})


async def test_monitor_at_200x50_gives_the_screen_to_gauges_curves_and_epochs(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    from yolofreeze.tui.monitor_app import MonitorApp
    from yolofreeze.tui.widgets.epoch_table import EpochTable

    run_with_results(tmp_path, sleeper)
    app = MonitorApp("live", deps(tmp_path), interval=0.25)
    async with app.run_test(size=(200, 50)) as pilot:
        table = app.screen.query_one(EpochTable)
        await wait_for(pilot, lambda: table.row_count == 3, "the three epochs")
        assert [str(c) for c in table.get_row_at(0)][:1] == ["3"]  # newest first, counted from 1
        assert str(table.get_row_at(0)[6]) == "0.6200" and str(table.get_row_at(2)[6]) == "0.6000"
        log = app.screen.query_one("#log-box").region
        top = app.screen.query_one("#monitor-top").region
        assert log.height <= 12 and top.height >= 25  # the log is a strip; the figures get the room
        assert table.region.width >= 50 and table.region.height >= 10
        assert app.screen.query_one("MetricsChart").region.height >= 1 + 4 * 5  # 3-row curves


async def test_monitor_at_80x24_keeps_the_compact_layout(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    from yolofreeze.tui.monitor_app import MonitorApp
    from yolofreeze.tui.widgets.epoch_table import EpochTable

    run_with_results(tmp_path, sleeper)
    app = MonitorApp("live", deps(tmp_path), interval=0.25)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: "3 epoch(s)" in screen_text(app) or app.screen.query_one(EpochTable).row_count, "results"
        )
        assert not app.screen.query_one(EpochTable).display
        assert app.screen.query_one("#log-box").region.height >= 6
