"""Keys that work on every screen, and damaged run records in the TUI (Pilot).

- the attach view (MonitorApp): esc, q and ctrl+c leave the app, never a blank screen, and the run
  keeps running; its footer offers "Stop" only while the run is live;
- the main app: ctrl+c quits from any screen, asking first when the plan is unsaved;
- the runs screen lists every damaged record as "unreadable record: why", never crashes or hangs.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.app import App
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from tests.core.launch_helpers import make_record
from tests.core.test_run_records import FIELD_CASES, SPECIAL_CASES
from tests.tui.tui_support import fake_estimator, settle, wait_for
from yolofreeze.core.monitoring.gpu import ProcessSampler
from yolofreeze.core.training.runs import run_status, write_json_atomic
from yolofreeze.tui.app import make_app
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.monitor_app import MonitorApp
from yolofreeze.tui.screens.confirm import ConfirmScreen, QuitScreen
from yolofreeze.tui.screens.main import MainScreen
from yolofreeze.tui.screens.monitor import MonitorScreen
from yolofreeze.tui.screens.runs import RunsScreen


def footer_keys(app: Any) -> list[str]:
    return [k.description for k in app.screen.query(FooterKey)]


@pytest.fixture
def live_run(tmp_path: Path) -> Any:
    """A real sleeping process group recorded as a run (nothing writes progress: it is "starting")."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    threading.Thread(target=p.wait, daemon=True).start()
    ctime = psutil.Process(p.pid).create_time()
    rec = make_record(tmp_path, "20260101-100000-live-0001", log="Epoch 0\n", pid=p.pid, pid_create_time=ctime)
    yield rec, p
    if p.poll() is None:
        p.kill()


def deps(tmp_path: Path) -> AppDeps:
    return AppDeps(state_dir=tmp_path, gpu_sampler_factory=lambda: ProcessSampler())


@pytest.mark.parametrize("key", ["escape", "q", "ctrl+c"])
async def test_attach_view_keys_leave_and_the_run_keeps_running(key: str, tmp_path: Path, live_run: Any) -> None:
    rec, proc = live_run
    app = MonitorApp(rec.run_id, deps(tmp_path), interval=0.25)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.status is not None, "the run's status"
        )
        assert "Stop training" in footer_keys(app)  # live: the key works, so it is offered
        await pilot.press(key)
        await wait_for(
            pilot, lambda: not app.is_running, "the app to exit"
        )  # left the app: no blank screen left behind
    assert proc.poll() is None and run_status(rec).state == "starting"  # leaving never stops it
    assert not (rec.dir / "stop.json").exists()


async def test_finished_run_footer_offers_no_stop(tmp_path: Path) -> None:
    rec = make_record(tmp_path, "20260101-100000-done-0001", log="done\n")
    write_json_atomic(rec.dir / "exit.json", {"returncode": 0})
    write_json_atomic(rec.dir / "status.json", {"phase": "done", "ending": "finished"})
    app = MonitorApp(rec.run_id, deps(tmp_path), interval=0.25)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await wait_for(pilot, lambda: screen.status is not None and screen.status.ended, "the ending")
        await wait_for(pilot, lambda: "Back (training keeps running)" in footer_keys(app), "the footer")
        keys = footer_keys(app)
        assert "Stop training" not in keys and "Back (training keeps running)" in keys
        await pilot.press("s")  # not offered, and does nothing
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)


async def test_ctrl_c_quits_at_once_when_the_plan_is_saved(yolov5s: Path, tmp_path: Path) -> None:
    app = make_app(yolov5s, deps=deps(tmp_path), estimator=fake_estimator(), estimate_delay=-1)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_value == 0
    assert not any("ctrl+q" in n.message for n in app._notifications)


async def test_ctrl_c_asks_on_unsaved_plan_from_any_screen_and_a_second_means_it(
    yolov5s: Path, tmp_path: Path, live_run: Any
) -> None:
    _rec, proc = live_run
    app = make_app(yolov5s, deps=deps(tmp_path), estimator=fake_estimator(), estimate_delay=-1)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("b")  # freeze the backbone: the plan is now unsaved
        app.push_screen(RunsScreen(app.deps))
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs list")
        app.screen.query_one(DataTable).focus()
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen), "the question")
        await pilot.press("n")  # stay
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs list")
        assert app.is_running
        # esc on the monitor goes back to the runs list, never to a blank screen
        app.screen.query_one(DataTable).focus()
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, "the one run listed")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), "the monitor")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs list")
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen), "the question")
        await pilot.press("ctrl+c")  # asked already: the second one quits
        await wait_for(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_value == 0
    assert proc.poll() is None  # the run was never stopped


async def test_runs_screen_lists_every_damaged_record_with_why(tmp_path: Path) -> None:
    """Every damage the CLI tests try, each in its own folder beside a good run: all listed, in time."""
    good = make_record(tmp_path, "20250101-000000-good-0000", log="ok\n", created=time.time() - 600)
    write_json_atomic(good.dir / "exit.json", {"returncode": 0})
    write_json_atomic(good.dir / "status.json", {"phase": "done", "ending": "finished"})
    cases = [*FIELD_CASES, *SPECIAL_CASES]
    expected = {}
    for i, (_case, damage, why) in enumerate(cases):
        run_id = f"20260101-{i:06d}-bad-{i:04x}"
        rec = make_record(tmp_path, run_id, log="Epoch 0\n")
        damage(rec.dir)
        expected[run_id] = why
    app: App[None] = App()
    screen = RunsScreen(deps(tmp_path))

    async with app.run_test(size=(200, 60)) as pilot:
        await app.push_screen(screen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == len(cases) + 1, "every record listed")
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}
        assert rows[good.run_id][2] == "finished"
        for run_id, why in expected.items():
            state = rows[run_id][2]
            assert state.startswith("unreadable record: ") and why in state, (run_id, state)
        # Enter on a damaged row says why and stays on the list
        bad_index = next(i for i in range(table.row_count) if str(table.get_row_at(i)[0]) in expected)
        table.focus()
        table.move_cursor(row=bad_index)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("unreadable record" in n.message for n in app._notifications), "the notice")
        assert isinstance(app.screen, RunsScreen)


async def test_monitor_on_a_damaged_record_says_why(tmp_path: Path) -> None:
    rec = make_record(tmp_path, "20260101-100000-bad-0001", log="x\n")
    (rec.dir / "exit.json").write_text('{"returncode": "1"}')
    app = MonitorApp(rec.run_id, deps(tmp_path), interval=0.25)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "unreadable" in str(app.screen.query_one("#monitor-title").render()), "the title")
        title = str(app.screen.query_one("#monitor-title").render())
        assert "unreadable record: exit.json: returncode is '1' (text)" in title
        assert "Stop training" not in footer_keys(app)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "the app to exit")
