"""The compare screen at 80x24 and 120x40: every plan in the table, curves drawn, curve switching."""

from __future__ import annotations

import html
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.core.test_compare import exp_folder
from yolofreeze.tui.screens.compare import CompareScreen, CurvesChart, make_compare_app


async def _settled(app, pilot) -> CompareScreen:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        screen = app.screen
        if isinstance(screen, CompareScreen) and screen.comparison is not None:
            await pilot.pause()
            return screen
    raise AssertionError("the comparison never loaded")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_screen_shows_each_plan_and_their_curves(tmp_path: Path, size: tuple[int, int]) -> None:
    root = tmp_path / "runs" / "train"
    exp_folder(root, "exp", [0], [0.1, 0.3, 0.5], loss=0.08)
    exp_folder(root, "exp2", [10], [0.05, 0.2, 0.4], loss=0.09)
    app = make_compare_app([str(root)], state=tmp_path / "state")
    async with app.run_test(size=size) as pilot:
        screen = await _settled(app, pilot)
        table = screen.query_one(DataTable)
        headers = [str(c.label) for c in table.columns.values()]
        assert headers[1:] == ["exp (no freeze)", "exp2 (--freeze 10)"]
        assert table.row_count == len(screen.comparison.headers) - 1  # type: ignore[union-attr]
        chart = screen.query_one(CurvesChart)
        assert chart.region.height >= 6 and chart.region.width == size[0]
        assert chart.plotted_cells() == 6  # 3 epochs x 2 plans, all on screen
        assert "mAP50 per epoch" in str(chart.border_title)
        shot = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert "exp2 (--freeze 10)" in shot and "trainable params" in shot and "final mAP50" in shot
        # beyond the legend's one marker per plan: each plan has points on the chart
        assert shot.count("\u25cf") >= 2 and shot.count("\u25a0") >= 2
        await pilot.press("c")
        assert "mAP50-95 per epoch" in str(chart.border_title)
        await pilot.press("c")
        assert "train loss" in str(chart.border_title)
        verdict = str(screen.query_one("#compare-verdict").render())
        assert verdict.startswith("exp2 (--freeze 10): \u221210.0 mAP50")
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_bad_item_is_said_on_screen_not_raised(tmp_path: Path) -> None:
    app = make_compare_app([str(tmp_path / "nope")], state=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 30
        title = ""
        while time.monotonic() < deadline and "cannot compare" not in title:
            await pilot.pause(0.05)
            title = str(app.screen.query_one("#compare-title").render())
        assert "cannot compare" in title and "no such folder" in title
