"""From the runs list to the comparison: mark runs with m, press c, see them side by side."""

from __future__ import annotations

import time
from pathlib import Path

from textual.widgets import DataTable

from tests.core.launch_helpers import make_record
from tests.core.test_compare import exp_folder
from tests.tui.test_monitor_runs_screen import Host, deps, screen_text
from tests.tui.tui_support import wait_for
from yolofreeze.core.training.runs import write_json_atomic
from yolofreeze.tui.screens.compare import CompareScreen
from yolofreeze.tui.screens.runs import RunsScreen


def finished_with_results(root: Path, run_id: str, created: float, freeze: list[int], map50: list[float]) -> None:
    rec = make_record(root, run_id, log="x\n", created=created, name=run_id.split("-")[2])
    write_json_atomic(rec.dir / "exit.json", {"returncode": 0})
    save_dir = exp_folder(root / "proj", run_id, freeze, map50)
    write_json_atomic(rec.dir / "status.json", {"ending": "finished", "save_dir": str(save_dir)})


async def test_mark_two_runs_and_compare_them(tmp_path: Path) -> None:
    finished_with_results(tmp_path, "20261130-100000-none-0001", time.time() - 60, [0], [0.1, 0.3, 0.5])
    finished_with_results(tmp_path, "20261130-110000-backbone-0002", time.time(), [10], [0.05, 0.2, 0.4])
    app = Host(RunsScreen(deps(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "both runs listed")
        await pilot.press("m", "down", "m")  # newest first: backbone, then none
        await wait_for(pilot, lambda: "2 marked" in screen_text(app), "the marks said in the title")
        assert str(table.get_row_at(0)[0]).startswith("* ") and str(table.get_row_at(1)[0]).startswith("* ")
        await pilot.press("m")  # unmark, mark again: marks toggle
        assert "1 marked" in screen_text(app)
        await pilot.press("m", "c")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None,
            "the comparison to load",
        )
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        headers = [str(c.label) for c in compare.query_one(DataTable).columns.values()]
        assert len(headers) == 3 and "backbone" in headers[1] and "none" in headers[2], headers  # marked order
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_compare_with_nothing_marked_uses_the_selected_run(tmp_path: Path) -> None:
    finished_with_results(tmp_path, "20261130-100000-only-0001", time.time(), [0], [0.1, 0.2])
    app = Host(RunsScreen(deps(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the run listed")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "the compare screen")
