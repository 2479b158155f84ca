"""SVG snapshots of what a user sees; each test also asserts the state the picture shows.

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and
look at the report before committing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen

from tests.tui.tui_support import fake_estimator, make_hostile, wait_until
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.plan.freeze import preset
from yolofreeze.tui.app import YoloFreezeApp, make_app
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.screens.error import ErrorScreen
from yolofreeze.tui.screens.export import ExportScreen
from yolofreeze.tui.screens.loading import LoadingScreen
from yolofreeze.tui.screens.main import MainScreen
from yolofreeze.tui.widgets.summary import PENDING_FREEZE, PlanSummary


def app_for(path: Path | str) -> YoloFreezeApp:
    # no GPU visible, whatever the machine: the fit check says "assumed 24 GiB"
    return make_app(path, AppDeps(gpu_memory=lambda: None), estimator=fake_estimator(), estimate_delay=0.01)


async def settle(pilot: Pilot[Any]) -> None:
    """Until the screen is at rest: the main screen with its --freeze line, estimate and largest batch answered,
    or any other screen than the blank and the loading one; then its workers done, redrawn."""

    def at_rest() -> bool:
        screen = pilot.app.screen
        if isinstance(screen, MainScreen):
            summary = screen.query(PlanSummary)
            view = screen.estimate_view
            # ready with its largest batch (the fake answers both), or unavailable
            answered = (view.state == "ready" and view.max_batch is not None) or view.state == "unavailable"
            return answered and bool(summary) and summary.first().figures.freeze is not PENDING_FREEZE
        return type(screen) is not Screen and not isinstance(screen, LoadingScreen)

    await wait_until(pilot, at_rest, "the screen at rest")


def summary_lines(app: YoloFreezeApp) -> str:
    s = app.screen.query_one(PlanSummary)
    return "\n".join(t.plain for t in (s.counts_line(), s.freeze_line(), s.peak_line()))


def test_main_80x24_backbone_frozen(snap_compare: Any, yolov5s: Path) -> None:
    """yolov5s at 80x24 after `b`: the backbone rows read ■ frozen, the head □ train, the BACKBONE
    section is on the first row; the summary says 3.06M trainable (42.3%), --freeze 10 and
    the traced peak against no freezing, which fits the assumed 24 GiB (no GPU visible)."""
    app = app_for(yolov5s)
    seen: dict[str, Any] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()
        assert isinstance(pilot.app.screen, MainScreen)
        seen["frozen"] = pilot.app.screen.plan.frozen
        seen["summary"] = summary_lines(app)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    assert seen["frozen"] == preset(read_checkpoint(yolov5s), "backbone").frozen
    assert "trainable 3.06M (42.3%)" in seen["summary"]
    assert "--freeze 10" in seen["summary"] and "fits assumed 24 GiB" in seen["summary"]


def test_main_160x48_mixed_layer_and_breakdown(snap_compare: Any, yolov5s: Path) -> None:
    """yolov5s at 160x48 with only layer 0's conv frozen: layer 0 and BACKBONE read ◧ mixed, the
    side panel shows counts, state bytes for SGD and Adam, why --freeze cannot carry the plan, and
    the traced breakdown (weights … nvidia smi) for the plan and for no freezing."""
    app = app_for(yolov5s)
    seen: dict[str, Any] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("down", "right", "down", "space")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()
        assert isinstance(pilot.app.screen, MainScreen)
        seen["frozen"] = pilot.app.screen.plan.frozen
        seen["wide"] = pilot.app.screen.has_class("-wide")
        seen["summary"] = summary_lines(app)

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)
    assert seen["frozen"] == {"model.0.conv.weight"}
    assert seen["wide"]
    assert "no --freeze" in seen["summary"]


def test_export_dialog(snap_compare: Any, yolov5s: Path, tmp_path: Path, monkeypatch: Any) -> None:
    """The export dialog after `b`, `e`: format yolov5 selected, the preview reads --freeze 10,
    the path is ./yolov5s.freeze.args.txt (the current folder); only yolov5's radio carries the ●
    mark (readable without colour); buttons Write ^s, Copy ^y, Close esc."""
    # A relative path keeps the machine's cache folder out of the picture.
    shutil.copy(yolov5s, tmp_path / "yolov5s.pt")
    monkeypatch.chdir(tmp_path)
    app = app_for("yolov5s.pt")
    seen: dict[str, Any] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("b")
        pilot.app.clear_notifications()
        await pilot.press("e")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ExportScreen)
        seen["text"] = screen.result.text if screen.result else None
        seen["path"] = screen.query_one("#export-path").value  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    assert seen["text"] == "--freeze 10"
    assert seen["path"] == "./yolov5s.freeze.args.txt"


def test_error_screen(snap_compare: Any) -> None:
    """A missing file: the error screen names it and says "no such file"; q quits with code 1."""
    app = app_for("missing-checkpoint.pt")
    seen: dict[str, Any] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ErrorScreen)
        seen["message"] = screen.message

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    assert seen["message"] == "missing-checkpoint.pt: no such file"


def test_hostile_screen(snap_compare: Any, yolov5n: Path, tmp_path: Path) -> None:
    """A yolov5n whose data.pkl calls os.system: a red HOSTILE FILE banner names os.system and
    says estimating and training are refused; the tree and summary work as for any file (all
    trainable) and the estimate line says it was not run for a hostile file."""
    hostile = make_hostile(yolov5n, tmp_path / "hostile.pt")
    app = app_for(hostile)
    seen: dict[str, Any] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, MainScreen)
        seen["suspicious"] = screen.info.suspicious
        seen["summary"] = summary_lines(app)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    assert seen["suspicious"] == ("os.system",)
    assert "trainable 1.87M (100.0%)" in seen["summary"]
    assert "not run for a hostile file" in seen["summary"]


def test_help_80x24_scrolled_to_the_end(snap_compare: Any, yolov5s: Path) -> None:
    """`?` then End at 80x24: the dialog shows the last rows, the monitor's keys (its "Back (training
    keeps running)" row at the bottom); the legend (■ □ ◧ · ←) is above, scrolled out."""
    app = app_for(yolov5s)
    seen: dict[str, Any] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        await pilot.press("end")
        scroll = pilot.app.screen.query_one("#help-scroll")
        await wait_until(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y > 0, "the bottom")
        seen["last"] = pilot.app.screen.rows[-1]  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    assert seen["last"][0] == "Monitor (a run, enter)"


def test_main_120x40_typed_gpu_size(snap_compare: Any, yolov5s: Path) -> None:
    """yolov5s at 120x40, backbone frozen, GPU size typed as 80: the summary reads "GPU 80 GiB"
    and "fits 80 GiB" in green, with no "assumed", and below it "largest batch that fits: N" (the
    fake estimator's figure); every tree name whole ("BACKBONE layers 0-9", "Detect ←17,20,23")."""
    app = app_for(yolov5s)
    seen: dict[str, Any] = {}

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("b", "g")
        await settle(pilot)
        pilot.app.screen.query_one("#prompt-input").value = "80"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()
        seen["summary"] = summary_lines(app)
        seen["max_batch"] = pilot.app.screen.estimate_view.max_batch  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
    assert "fits 80 GiB" in seen["summary"] and "assumed" not in seen["summary"]
    assert seen["max_batch"] and seen["max_batch"] > 16
