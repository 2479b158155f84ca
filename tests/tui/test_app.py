"""Pilot tests: every binding and flow of the main screen, at 80x24 unless a test says otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Button, Input, Label, RadioButton

from tests.tui.tui_support import fake_estimator, make_hostile, settle, wait_for, wait_until
from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.memory.estimator import EstimateUnavailable, TrainConfig
from yolofreeze.core.plan.freeze import export, preset
from yolofreeze.tui.app import YoloFreezeApp, make_app
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.screens.confirm import ConfirmScreen, QuitScreen
from yolofreeze.tui.screens.error import ErrorScreen
from yolofreeze.tui.screens.export import ExportScreen
from yolofreeze.tui.screens.help import HelpScreen
from yolofreeze.tui.screens.launch import LaunchScreen
from yolofreeze.tui.screens.loading import LoadingScreen
from yolofreeze.tui.screens.main import MainScreen
from yolofreeze.tui.screens.prompt import PromptScreen
from yolofreeze.tui.screens.runs import RunsScreen
from yolofreeze.tui.widgets.hostile_banner import HostileBanner
from yolofreeze.tui.widgets.layer_tree import LayerTree
from yolofreeze.tui.widgets.summary import PlanSummary

ROOT = Path(__file__).resolve().parents[2]


def app_for(path: Path | str, **kw: object) -> YoloFreezeApp:
    kw.setdefault("estimator", fake_estimator())
    kw.setdefault("deps", AppDeps(gpu_memory=lambda: None))  # no GPU visible, whatever the machine
    kw.setdefault("estimate_delay", 0.05)
    return make_app(path, **kw)  # type: ignore[arg-type]


def main(app: YoloFreezeApp) -> MainScreen:
    assert isinstance(app.screen, MainScreen), f"on {type(app.screen).__name__}"
    return app.screen


def rows(app: YoloFreezeApp) -> list[str]:
    """The tree's rows as drawn (plain text), top to bottom of the visible area."""
    tree = app.screen.query_one(LayerTree)
    return [tree.render_line(y).text.rstrip() for y in range(tree.scrollable_content_region.height)]


def row_of(app: YoloFreezeApp, key: str) -> str:
    tree = app.screen.query_one(LayerTree)
    node = tree.node_for(key)
    assert node is not None and node.line >= 0, f"{key} not visible"
    tree.scroll_to_line(node.line, animate=False)
    return tree._render_line(node.line, 0, tree.size.width, tree.rich_style).text


def summary_text(app: YoloFreezeApp) -> str:
    """The summary's lines as plain text; empty until the main screen is up."""
    found = app.screen.query(PlanSummary)
    if not found:
        return ""
    s = found.first()
    return "\n".join(t.plain for t in (s.counts_line(), s.freeze_line(), s.peak_line(), s.settings_text()))


def trainable(app: YoloFreezeApp) -> int:
    return main(app).plan.counts.trainable_params


# -- opening -----------------------------------------------------------------------------------


def test_first_screen_is_up_without_torch(yolov5s: Path) -> None:
    """The path to the main screen (reader, tree, summary) never imports torch."""
    script = f"""
import asyncio, sys
from yolofreeze.tui.app import make_app
from yolofreeze.tui.screens.main import MainScreen
async def go():
    app = make_app({str(yolov5s)!r})
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):
            await pilot.pause(0.01)
            trees = app.screen.query("LayerTree")
            if isinstance(app.screen, MainScreen) and trees and trees.first().last_line > 0:
                break
        print("main" if isinstance(app.screen, MainScreen) else "not-main", "torch" in sys.modules)
        app.exit(0)
asyncio.run(go())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["main", "False"]


async def test_loading_screen_while_reading(yolov5s: Path) -> None:
    release = threading.Event()

    def slow_read(path: str) -> ModelInfo:
        release.wait(10)
        return read_checkpoint(path)

    app = app_for(yolov5s, deps=AppDeps(read_checkpoint=slow_read))
    async with app.run_test(size=(80, 24)) as pilot:
        # shown once a read takes longer than 0.1 s (this one waits until released)
        await wait_for(pilot, lambda: isinstance(app.screen, LoadingScreen), "the loading screen")
        label = str(app.screen.query_one("#loading-label").render())
        assert "yolov5s.pt" in label and "MiB" in label
        release.set()
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


@pytest.mark.parametrize("kind", ["missing", "broken", "not-a-checkpoint", "directory"])
async def test_error_screen_and_exit_code(kind: str, tmp_path: Path, yolov5s: Path) -> None:
    path = tmp_path / "x.pt"
    if kind == "broken":
        path.write_bytes(yolov5s.read_bytes()[:5000])
    elif kind == "not-a-checkpoint":
        path.write_text("hello\n")
    elif kind == "directory":
        path = tmp_path
    app = app_for(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        message = str(app.screen.query_one("#error-message").render())
        assert str(path) in message
        await pilot.press("q")
    assert app.return_value == 1


async def test_hostile_file_banner_plan_export_but_no_training(yolov5n: Path, tmp_path: Path) -> None:
    hostile = make_hostile(yolov5n, tmp_path / "hostile.pt")
    app = app_for(hostile)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(HostileBanner)
        assert "os.system" in str(banner.render())
        await pilot.press("b")
        assert main(app).plan.frozen == preset(main(app).info, "backbone").frozen
        await pilot.press("t")
        await pilot.pause()
        assert any("Training refused" in n.message for n in app._notifications)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        assert app.screen.result is not None and app.screen.result.text.strip() == "--freeze 10"


# -- tree ------------------------------------------------------------------------------------


async def test_tree_rows_show_layers_modules_parameters(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = rows(app)
        assert "BACKBONE layers 0-9" in text[0] and "57.7%" in text[0] and "train" in text[0]
        assert " 0 Conv" in text[1] and "3.52k" in text[1] and "0.0%" in text[1]
        assert row_of(app, "model.12").count("←-1,6") == 1  # Concat's from indices
        assert "·" in row_of(app, "model.12")  # no parameters: neither frozen nor trainable
        await pilot.press("down", "right")  # expand layer 0
        await pilot.press("down", "right")  # expand model.0.conv
        await pilot.pause()
        param = row_of(app, "model.0.conv.weight")
        assert "weight 32×3×6×6 f16" in param and "3.46k" in param and "□" in param  # noqa: RUF001


async def test_space_toggles_subtree_and_parents_show_mixed(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down", "space")  # layer 0
        screen = main(app)
        assert screen.plan.frozen == set(screen.info.subtree_parameters["model.0"])
        assert "■" in row_of(app, "model.0") and "frozen" in row_of(app, "model.0")
        backbone = row_of(app, "section:backbone")
        assert "◧" in backbone and "mixed" in backbone
        await pilot.press("space")
        assert screen.plan.frozen == frozenset()
        assert "□" in row_of(app, "section:backbone")


async def test_range_with_v_and_shift_arrows(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = main(app)
        under = screen.info.subtree_parameters
        await pilot.press("down", "v", "down", "down", "space")  # layers 0..2
        assert screen.plan.frozen == {*under["model.0"], *under["model.1"], *under["model.2"]}
        assert screen.layer_tree.range_start is None  # the range is used up
        await pilot.press("down", "shift+down", "shift+down", "space")  # layers 3..5
        assert {*under["model.3"], *under["model.4"], *under["model.5"]} <= screen.plan.frozen
        await pilot.press("v", "up", "escape")  # escape drops a marked range
        assert screen.layer_tree.range_start is None


async def test_click_on_state_symbol_toggles(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = main(app).layer_tree
        # row 1 is layer 0: guide (2) + icon (2), the symbol at x=4 inside the tree
        await pilot.click(LayerTree, offset=(4, 1))
        assert main(app).plan.frozen == set(main(app).info.subtree_parameters["model.0"])
        await pilot.click(LayerTree, offset=(20, 2))  # elsewhere on a row: moves the cursor only
        assert tree.cursor_key == "model.1"
        assert main(app).plan.frozen == set(main(app).info.subtree_parameters["model.0"])


# -- presets, undo, filter ---------------------------------------------------------------------


async def test_presets_on_keys(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = main(app)
        info = screen.info
        await pilot.press("b")
        assert screen.plan.frozen == preset(info, "backbone").frozen
        assert "--freeze 10" in summary_text(app)
        await pilot.press("a")
        assert screen.plan.frozen == preset(info, "all").frozen
        await pilot.press("n")
        assert screen.plan.frozen == frozenset()
        await pilot.press("f")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("ctrl+u", "x", "enter")  # not a number: the prompt stays and says so
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("ctrl+u", "4", "enter")
        assert isinstance(app.screen, MainScreen)
        assert screen.plan.frozen == preset(info, "first:4").frozen
        assert "--freeze 4" in summary_text(app)


async def test_undo_redo(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = main(app)
        backbone = preset(screen.info, "backbone").frozen
        await pilot.press("b", "a")
        await pilot.press("u")
        assert screen.plan.frozen == backbone
        await pilot.press("ctrl+z")
        assert screen.plan.frozen == frozenset()
        await pilot.press("ctrl+r")
        assert screen.plan.frozen == backbone
        await pilot.press("ctrl+y")
        assert screen.plan.frozen == preset(screen.info, "all").frozen
        await pilot.press("ctrl+y")  # nothing left to redo
        assert screen.plan.frozen == preset(screen.info, "all").frozen


async def test_filter_by_name(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"detect", "enter")
        text = "\n".join(rows(app))
        assert "24 Detect" in text and " 0 Conv" not in text
        await pilot.press("down", "space")  # rows: HEAD section, then 24 Detect
        assert main(app).plan.frozen == set(main(app).info.subtree_parameters["model.24"])
        await pilot.press("escape")
        text = "\n".join(rows(app))
        assert " 0 Conv" in text


# -- summary and estimate ----------------------------------------------------------------------


async def test_summary_counts_bytes_and_freeze_args(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "trainable 7.24M (100.0%)" in summary_text(app)
        await pilot.press("b")
        c = main(app).plan.counts
        assert (c.trainable_params, c.total_params) == (3_063_933, 7_235_389)  # yolov5s, layers 0-9 frozen
        text = summary_text(app)
        assert "trainable 3.06M (42.3%)" in text and "frozen 4.17M (57.7%)" in text
        summary = app.screen.query_one(PlanSummary)
        sgd = summary.state_line("SGD", summary.figures.sgd).plain
        assert sgd.startswith("SGD 51.0 vs 82.8 MiB") and "38%" in sgd
        await pilot.press("down", "right", "down", "space")  # part of layer 0: no --freeze
        assert "no --freeze" in summary_text(app) and "whole layers only" in summary_text(app)


async def test_estimate_debounced_latest_and_fits(yolov5s: Path) -> None:
    calls: list[tuple[frozenset[str], TrainConfig]] = []
    # a debounce long enough that four key presses land inside it even on a loaded machine
    app = app_for(yolov5s, estimator=fake_estimator(calls), estimate_delay=2.0)
    async with app.run_test(size=(80, 24)) as pilot:

        def estimated(n: int) -> bool:
            return len(calls) >= n and "estimating" not in summary_text(app)

        await wait_until(pilot, lambda: estimated(1), "the first estimate")
        assert len(calls) == 1
        await pilot.press("b", "a", "n", "b")  # four edits inside the debounce: one estimate
        assert "estimating…" in summary_text(app)
        await wait_until(pilot, lambda: estimated(2), "the estimate after four edits")
        assert len(calls) == 2 and calls[-1][0] == main(app).plan.frozen
        assert "fits assumed 24 GiB" in summary_text(app) and "estimating" not in summary_text(app)
        await pilot.press("right_square_bracket", "right_square_bracket", "p")
        await type_into_prompt(pilot, "i", "960")
        await wait_until(pilot, lambda: estimated(3), "the estimate after the settings changed")
        assert calls[-1][1] == TrainConfig(batch=64, img=960, optimizer="Adam")
        assert "batch 64 img 960 Adam" in summary_text(app)
        await type_into_prompt(pilot, "g", "8")  # too small for the fake's batch-64 peak
        assert "DOES NOT FIT 8 GiB" in summary_text(app)


async def type_into_prompt(pilot: Any, key: str, text: str) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), f"the prompt of {key}")
    pilot.app.screen.query_one("#prompt-input", Input).value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MainScreen), "the main screen")


async def test_gpu_size_from_nvml_else_assumed_and_typed(yolov5s: Path) -> None:
    app = app_for(yolov5s, deps=AppDeps(gpu_memory=lambda: 141 << 30))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "GPU 141 GiB" in summary_text(app), "the GPU size from NVML")
        assert "assumed" not in summary_text(app)
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "GPU assumed 24 GiB" in summary_text(app)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen), "the GPU prompt")
        app.screen.query_one("#prompt-input", Input).value = "lots"
        await pilot.press("enter")
        assert isinstance(app.screen, PromptScreen)  # refused, says why
        assert "a size in GiB" in str(app.screen.query_one("#prompt-error", Label).render())
        app.screen.query_one("#prompt-input", Input).value = "94"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        assert "GPU 94 GiB" in summary_text(app) and "fits 94 GiB" in summary_text(app)


async def test_batch_and_image_size_typed_checked_and_snapped(yolov5s: Path) -> None:
    calls: list[tuple[frozenset[str], TrainConfig]] = []
    app = app_for(yolov5s, estimator=fake_estimator(calls))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen), "the batch prompt")
        app.screen.query_one("#prompt-input", Input).value = "0"
        await pilot.press("enter")
        assert "batch must be 1-" in str(app.screen.query_one("#prompt-error", Label).render())
        app.screen.query_one("#prompt-input", Input).value = "24"
        await pilot.press("enter")
        await type_into_prompt(pilot, "i", "500")  # not a multiple of 32: train.py would use 512
        await wait_until(pilot, lambda: calls and calls[-1][1].img == 512, "the estimate at 512")
        assert calls[-1][1] == TrainConfig(batch=24, img=512, optimizer="SGD")
        assert "batch 24 img 512" in summary_text(app)
        assert any("500 → 512" in n.message for n in app._notifications)


async def test_estimate_unavailable_is_shown_not_raised(yolov5s: Path) -> None:
    def not_traceable(*_: object) -> object:
        raise EstimateUnavailable("yolov5 cannot build this checkpoint's model YAML: bad layer")

    app = app_for(yolov5s, estimator=not_traceable)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "unavailable" in summary_text(app), "the estimate's answer")
        assert "traced estimate unavailable: yolov5 cannot build" in summary_text(app)
        assert not app._notifications  # an expected outcome, not a failure to report


async def test_estimator_bug_is_notified(yolov5s: Path) -> None:
    def broken(*_: object) -> object:
        raise RuntimeError("boom")

    app = app_for(yolov5s, estimator=broken)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "unavailable" in summary_text(app), "the estimate's answer")
        assert any("memory estimate failed" in n.message and "boom" in n.message for n in app._notifications)
        assert "estimator error: RuntimeError('boom')" in summary_text(app)


# -- export, clipboard, plan files -------------------------------------------------------------


async def test_export_dialog_formats_write_and_copy(yolov5s: Path, tmp_path: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b", "e")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        assert str(dialog.query_one("#export-preview").render()).strip() == "--freeze 10"
        await pilot.press("ctrl+y")
        assert app.clipboard == "--freeze 10\n" or app.clipboard.strip() == "--freeze 10"
        await pilot.press("right", "right", "right", "enter")  # focus json, select it
        await settle(pilot)
        assert dialog.format == "json"
        target = tmp_path / "plan.json"
        path_input = dialog.query_one("#export-path")
        path_input.value = str(target)  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        doc = json.loads(target.read_text())
        assert doc["yolov5"] == "--freeze 10" and len(doc["frozen"]) == len(main(app).plan.frozen)
        await pilot.press("q")  # written: quitting asks nothing
    assert app.return_value == 0


async def test_export_dialog_opens_a_mixed_plan_on_a_format_that_carries_it(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down", "right", "down", "space", "e")  # a single module frozen
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        assert dialog.format == "python" and dialog.path == "./yolov5s.freeze.py"
        assert "freeze = ['model.0.conv.']" in str(dialog.query_one("#export-preview").render())
        await pilot.press("left")  # the arrow selects yolov5, which cannot carry it
        await settle(pilot)
        assert dialog.format == "yolov5" and dialog.path == "./yolov5s.freeze.args.txt"
        assert "cannot carry" in str(dialog.query_one("#export-preview").render())
        assert "whole layers only" in str(dialog.query_one("#export-note").render())
        await pilot.press("ctrl+s")  # refused with a message, dialog stays
        assert isinstance(app.screen, ExportScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_export_format_follows_the_file_name_and_is_remembered(
    yolov5s: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b", "e")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        # in the current folder, not beside the checkpoint
        assert dialog.format == "yolov5" and dialog.path == "./yolov5s.freeze.args.txt"
        path_input = dialog.query_one("#export-path", Input)
        path_input.focus()
        path_input.value = ""
        await pilot.press(*"out/my.names.txt")
        await settle(pilot)
        assert dialog.format == "names" and dialog.query_one("#format-names", RadioButton).value
        assert dialog.result is not None and dialog.result.text.startswith("model.0.")
        path_input.value = "mine.json"
        await settle(pilot)
        assert dialog.format == "json"
        await pilot.press("enter")  # writes ./mine.json
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert json.loads((tmp_path / "mine.json").read_text())["yolov5"] == "--freeze 10"
        await pilot.press("e")  # reopens where it was left
        await settle(pilot)
        again = app.screen
        assert isinstance(again, ExportScreen)
        assert again.format == "json" and again.path == "mine.json"
        await pilot.press("down")  # names; the file's suffix follows
        await settle(pilot)
        assert again.format == "names" and again.path == "mine.names.txt"
        await pilot.press("escape")
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen) and app.screen.path == "mine.names.txt"


async def test_export_radio_mark_is_a_character_not_only_colour(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b", "e")
        await settle(pilot)
        await pilot.press("right")
        await settle(pilot)
        marks = {str(b.label): b.render().plain for b in app.screen.query(RadioButton)}
        assert [f for f, text in marks.items() if "●" in text] == ["python"]


async def test_export_asks_before_overwriting(yolov5s: Path, tmp_path: Path) -> None:
    target = tmp_path / "keep.args.txt"
    target.write_text("precious\n")
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b", "e")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        dialog.query_one("#export-path", Input).value = str(target)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the overwrite question")
        assert str(target) in str(app.screen.query_one("#confirm-question", Label).render())
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is dialog, "back on the dialog")
        assert target.read_text() == "precious\n"
        await pilot.press("ctrl+s", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        assert target.read_text() == "--freeze 10"


async def test_copy_freeze_args(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b", "c")
        assert app.clipboard == "--freeze 10"


async def test_save_then_load_plan(yolov5s: Path, tmp_path: Path) -> None:
    target = tmp_path / "p.json"
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b", "s")
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one("#prompt-input").value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        assert json.loads(target.read_text())["yolov5"] == "--freeze 10"
        await pilot.press("n", "o")
        app.screen.query_one("#prompt-input").value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        screen = main(app)
        assert screen.plan.frozen == preset(screen.info, "backbone").frozen
        await pilot.press("o")
        app.screen.query_one("#prompt-input").value = str(tmp_path / "nope.json")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert any("no such plan file" in n.message for n in app._notifications)


async def test_plan_flag_opens_with_plan(yolov5s: Path, tmp_path: Path) -> None:
    info = read_checkpoint(yolov5s)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(export(preset(info, "first:4"), "json").text)
    app = app_for(yolov5s, plan_file=plan_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert main(app).plan.frozen == preset(info, "first:4").frozen
        assert "--freeze 4" in summary_text(app)
        await pilot.press("q")  # unchanged since opening: no question
    assert app.return_value == 0


async def test_bad_plan_flag_opens_without_plan_and_says_why(yolov5s: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    app = app_for(yolov5s, plan_file=bad)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert main(app).plan.frozen == frozenset()
        assert any("Plan not applied" in n.message for n in app._notifications)


# -- quitting, help, palette, other screens ------------------------------------------------------


async def test_quit_asks_when_plan_unsaved(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b", "q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("q", "y")
        await pilot.pause()
    assert app.return_value == 0


async def test_save_and_quit_writes_the_plan_then_quits(
    yolov5s: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b", "q")
        assert isinstance(app.screen, QuitScreen)
        assert "Save and quit" in str(app.screen.query_one("#quit-save", Button).label)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen), "the path prompt")
        assert app.screen.query_one("#prompt-input", Input).value == "./yolov5s.freeze.json"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_value == 0
    assert json.loads((tmp_path / "yolov5s.freeze.json").read_text())["yolov5"] == "--freeze 10"


async def test_help_has_the_legend_other_screens_keys_and_end_reaches_the_bottom(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        help_ = app.screen
        assert isinstance(help_, HelpScreen)
        legend = {keys: what for section, keys, what in help_.rows if section == "Legend"}
        assert {"■ frozen", "□ trainable", "◧ mixed N%", "·", "← -1,6"} <= set(legend)
        assert "N% of its parameters" in legend["◧ mixed N%"]
        sections = {section for section, _, _ in help_.rows}
        assert {"Export dialog (e)", "Launch form (t)", "Runs list (r)", "Monitor (a run, enter)"} <= sections
        assert ("Export dialog (e)", "ctrl+s", "Write file") in help_.rows
        scroll = help_.query_one("#help-scroll")
        assert scroll.max_scroll_y > 0  # more than a screenful at 80x24
        await pilot.press("end")
        await wait_for(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y, "the bottom of the help")
        table = help_.query_one("#help-table")
        # the table's last row is inside the visible part of the scroll, not cut by the dialog
        assert scroll.scroll_y + scroll.scrollable_content_region.height >= table.outer_size.height


async def test_help_lists_every_binding(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {(keys, what) for _, keys, what in app.screen.rows}
        keys = " ".join(k for k, _ in listed)
        for key in (
            "space",
            "v",
            "b",
            "n",
            "a",
            "f",
            "u",
            "ctrl+z",
            "ctrl+r",
            "ctrl+y",
            "/",
            "e",
            "c",
            "s",
            "o",
            "g",
            "i",
            "p",
            "[",
            "]",
            "t",
            "r",
            "?",
            "q",
            "escape",
            "shift+down",
            "ctrl+p",
        ):
            assert key in keys.split(", ") or key in keys.replace(",", " ").split(), key
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_command_palette_runs_presets(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"freeze the backbone")

        def first_hit() -> str:
            hits = app.screen.query(CommandList)
            if not hits or not hits.first().option_count or hits.first().highlighted != 0:
                return ""
            return str(hits.first().get_option_at_index(0).prompt)

        await wait_for(pilot, lambda: "Preset: freeze the backbone" in first_hit(), "the backbone preset, highlighted")
        await pilot.press("enter")
        await settle(pilot)
        screen = main(app)
        assert screen.plan.frozen == preset(screen.info, "backbone").frozen


async def test_launch_form_starts_from_the_main_screens_settings_and_keeps_edits(yolov5s: Path, tmp_path: Path) -> None:
    from textual.widgets import Input, Select

    app = app_for(yolov5s, deps=AppDeps(state_dir=tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = main(app)
        await pilot.press("left_square_bracket", "p", "b")  # batch 8, Adam; backbone
        await type_into_prompt(pilot, "i", "960")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen), "the launch form")

        def form() -> tuple[str, ...]:
            shown = app.screen
            assert isinstance(shown, LaunchScreen)
            texts = tuple(shown.query_one(f"#in-{f}", Input).value for f in ("batch", "img", "epochs", "data"))
            return (*texts, str(shown.query_one("#in-optimizer", Select).value))

        assert form() == ("8", "960", "100", "", "Adam")
        launch = app.screen
        assert isinstance(launch, LaunchScreen) and launch.plan.frozen == screen.plan.frozen != frozenset()
        launch.query_one("#in-epochs", Input).value = "7"
        launch.query_one("#in-data", Input).value = "/data/x.yaml"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen), "the launch form again")
        assert form() == ("8", "960", "7", "/data/x.yaml", "Adam")  # as the user left it
        await pilot.press("escape", "right_square_bracket")  # batch 16 on the main screen
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen), "the launch form a third time")
        assert form() == ("16", "960", "7", "/data/x.yaml", "Adam")  # the newer setting wins, edits stay
        await pilot.press("escape", "r")
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs list")


async def test_resize_switches_layout(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-narrow")
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        assert app.screen.has_class("-wide")
        summary = app.screen.query_one(PlanSummary)
        assert summary.region.x > 80 and summary.region.height > 30
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.screen.has_class("-narrow")
        assert all(len(r) <= 80 for r in rows(app))


async def test_no_color_still_reads_states(yolov5s: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down", "space")
        tree = main(app).layer_tree
        strip = tree.render_line(1)
        assert "■" in strip.text and "frozen" in strip.text
        assert "◧" in tree.render_line(0).text and "mixed" in tree.render_line(0).text


async def test_a_cancelled_estimate_never_replaces_a_newer_plans_figure(yolov5s: Path) -> None:
    """Plan 1's estimate is slow and fails late, after plan 2's figure is on screen: the user keeps
    seeing plan 2's figure, not plan 1's "unavailable"."""
    from textual.message import Message

    from yolofreeze.core.errors import YoloFreezeError
    from yolofreeze.tui.messages import EstimateUnavailable as UnavailableMessage

    info = read_checkpoint(yolov5s)
    plan1 = preset(info, "backbone").frozen
    started, release = threading.Event(), threading.Event()
    quick = fake_estimator()

    def estimator(i: ModelInfo, frozen: frozenset[str], config: TrainConfig, cancelled: object) -> object:
        if frozen == plan1:  # slow, and deaf to cancelling (as while yolov5 builds the model)
            started.set()
            release.wait(60)
            raise YoloFreezeError("plan 1's model could not be traced")
        return quick(i, frozen, config, cancelled)  # type: ignore[arg-type]

    late: list[Message] = []

    def hook(message: Message) -> None:
        if isinstance(message, UnavailableMessage) and message.frozen == plan1:
            late.append(message)

    app = app_for(yolov5s, estimator=estimator, estimate_delay=0.05)
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:

        def peak() -> str:
            found = app.screen.query(PlanSummary)
            return found.first().peak_line().plain if found else ""

        await wait_until(pilot, lambda: "fits" in peak(), "the first estimate")
        await pilot.press("b")
        await wait_for(pilot, started.is_set, "plan 1's estimate to start")
        await pilot.press("a")
        await wait_for(pilot, lambda: "fits" in peak() and "estimating" not in peak(), "plan 2's estimate")
        shown = peak()
        release.set()
        await wait_for(pilot, lambda: bool(late), "plan 1's late answer to arrive")
        assert peak() == shown
        assert "unavailable" not in summary_text(app)


def test_every_palette_entry_runs_an_action_of_the_main_screen() -> None:
    from yolofreeze.tui.screens.main_commands import PALETTE

    for title, _help, action in PALETTE:
        assert callable(getattr(MainScreen, f"action_{action.split('(')[0]}", None)), title


async def test_main_estimate_cancelled_by_the_launch_forms_is_asked_again_on_return(
    yolov5s: Path, tmp_path: Path
) -> None:
    """The main screen's first estimate is still running when the launch form estimates other
    options (one estimate at a time: the main one is cancelled); back on the main screen, its
    figure still arrives instead of "estimating…" for ever."""
    from yolofreeze.core.memory.estimator import EstimateCancelled
    from yolofreeze.core.training.dataset import make_dataset

    quick = fake_estimator()
    first = threading.Event()
    calls: list[TrainConfig] = []

    def estimator(i: ModelInfo, frozen: frozenset[str], config: TrainConfig, cancelled: object) -> object:
        calls.append(config)
        if len(calls) == 1:  # slow, and stops when cancelled, as the traced estimate does
            first.set()
            while not cancelled():  # type: ignore[operator]
                threading.Event().wait(0.01)
            raise EstimateCancelled("a newer estimate was asked for")
        return quick(i, frozen, config, cancelled)  # type: ignore[arg-type]

    data = make_dataset(tmp_path / "ds", n_train=2, n_val=1, size=64)
    app = app_for(yolov5s, estimator=estimator, deps=AppDeps(state_dir=tmp_path))
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, first.is_set, "the main screen's first estimate to start")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen), "the launch form")
        form = app.screen
        assert isinstance(form, LaunchScreen)
        for fid, value in (("data", str(data)), ("batch", "4"), ("img", "64"), ("device", "cpu")):
            form.query_one(f"#in-{fid}").value = value  # type: ignore[attr-defined]
        await form.run_action("check")
        await wait_for(
            pilot, lambda: "for batch 4 @ 64 px" in str(form.query_one("#launch-estimate").render()), "its estimate"
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: "fits" in summary_text(app), "the main screen's figure")
        assert "estimating" not in summary_text(app) and calls[-1] == TrainConfig()
