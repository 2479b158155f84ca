"""Layout a user notices: names not cut, the title fits, the cursor row stays in view, children
scroll into view, stale figures greyed. Pilots at 80x24 and 120x40."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.tui.tui_support import fake_estimator, wait_for, wait_until
from yolofreeze.tui.app import YoloFreezeApp, make_app
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.screens.main import MainScreen
from yolofreeze.tui.widgets.layer_tree import LayerTree
from yolofreeze.tui.widgets.summary import EstimateView, PlanSummary


def app_for(path: Path | str) -> YoloFreezeApp:
    return make_app(path, AppDeps(gpu_memory=lambda: None), estimator=fake_estimator(), estimate_delay=0.01)


async def ready(pilot) -> MainScreen:  # type: ignore[no-untyped-def]
    await wait_until(
        pilot,
        lambda: isinstance(pilot.app.screen, MainScreen) and pilot.app.screen.estimate_view.state == "ready",
        "the main screen with its estimate",
    )
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    return screen


def visible_rows(tree: LayerTree) -> list[str]:
    return [tree.render_line(y).text.rstrip() for y in range(tree.scrollable_content_region.height)]


async def test_at_120_columns_the_tree_names_are_not_cut(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        assert screen.has_class("-wide")
        tree = screen.layer_tree
        tree.action_scroll_end()
        await pilot.pause()
        rows = visible_rows(tree)
        tree.action_scroll_home()
        await pilot.pause()
        rows += visible_rows(tree)
        assert any("BACKBONE layers 0-9" in r for r in rows)
        assert any("Detect ←17,20,23" in r for r in rows)
        assert not any("…" in r for r in rows)
        # and the summary keeps the width of its full breakdown
        assert screen.summary.size.width >= 52


async def test_title_fits_at_80_columns_even_for_a_long_file_name(yolov5s: Path, tmp_path: Path) -> None:
    long = tmp_path / "yolov5s-finetuned-on-our-dataset-v2.pt"
    shutil.copy(yolov5s, long)
    app = app_for(long)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        title = str(screen.query_one("#title-bar").render())
        assert len(title) <= 80
        assert title.startswith(" yolov5s-finetuned-on-our-dataset-v2.pt ") and "7.24M params" in title


async def test_toggling_one_parameter_keeps_the_summary_height_and_the_cursor_row(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        tree = screen.layer_tree
        before = screen.summary.outer_size.height
        # down to layer 0's conv weight at the bottom of the view: a partial plan, the longest note
        await pilot.press("down", "right", "down", "right", "down", "space")
        await wait_until(pilot, lambda: screen.estimate_view.state == "ready", "the estimate")
        assert screen.plan.frozen == {"model.0.conv.weight"}
        assert "layer 0 (1/3 tensors) is frozen in part" in screen.summary.freeze_line(compact=True).plain
        assert screen.summary.outer_size.height == before
        top = int(tree.scroll_offset.y)
        assert top <= tree.cursor_line < top + tree.scrollable_content_region.height


async def test_expanding_the_bottom_row_scrolls_its_children_into_view(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        tree = screen.layer_tree
        height = tree.scrollable_content_region.height
        node = tree.node_for("model.13")  # a C3 layer: three children
        assert node is not None and node.allow_expand and not node.is_expanded
        tree.scroll_to(y=node.line - height + 1, animate=False)  # its row at the bottom of the view
        tree.cursor_line = node.line
        await pilot.pause()
        start = int(tree.scroll_offset.y)
        assert node.line == start + height - 1
        await pilot.press("right")
        await wait_for(pilot, lambda: int(tree.scroll_offset.y) > start, "the tree to scroll")
        top = int(tree.scroll_offset.y)
        assert top <= node.line and node.line + len(node.children) < top + height  # row and children shown


async def test_stale_figures_are_greyed_while_estimating(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        summary = screen.query_one(PlanSummary)
        fresh = summary.peak_line()
        assert any("green" in str(s.style) or "yellow" in str(s.style) for s in fresh.spans)
        summary.show(estimate=EstimateView("estimating", screen.estimate_view.estimate))
        stale = summary.peak_line()
        assert "estimating…" in stale.plain and "fits assumed 24 GiB" in stale.plain
        verdict = next(s for s in stale.spans if "fits" in stale.plain[s.start : s.end])
        assert str(verdict.style) == "dim"


async def test_largest_batch_that_fits_follows_the_gpu_size(yolov5s: Path) -> None:
    import re

    app = app_for(yolov5s)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        summary = screen.query_one(PlanSummary)
        await wait_for(pilot, lambda: "max batch" in summary.peak_line().plain, "the largest batch")

        def most() -> int:
            m = re.search(r"max batch (\d+)", summary.peak_line().plain)
            assert m, summary.peak_line().plain
            return int(m.group(1))

        at_24 = most()
        assert at_24 > screen.settings.batch  # the fake's batch-16 peak is far below 24 GiB
        screen._set_settings(screen.settings.with_gpu(8, "typed"))
        view = lambda: screen.estimate_view  # noqa: E731
        await wait_until(pilot, lambda: view().state == "ready" and view().max_batch is not None, "the new batch")
        assert 0 < most() < at_24
        screen._set_settings(screen.settings.with_gpu(0.1, "typed"))
        await wait_until(pilot, lambda: screen.estimate_view.max_batch == 0, "no batch fits")
        assert "not even batch 1 fits" in summary.peak_line().plain
