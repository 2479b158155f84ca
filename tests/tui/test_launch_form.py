"""The launch form at 80x24: every field on screen at once, problems in view (beside their field and
in the result line above the form), values kept on esc, Tab completing paths like a shell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets import Input

from tests.tui.test_monitor_runs_screen import Host, screen_text
from tests.tui.tui_support import wait_for
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.plan.freeze import FreezePlan, preset
from yolofreeze.core.training.dataset import make_dataset
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.screens.launch import TEXT_FIELDS, LaunchDraft, LaunchScreen
from yolofreeze.tui.widgets.path_input import MAX_SCAN, complete_path

FIELD_ROWS = [f"#row-{fid}" for fid, *_ in TEXT_FIELDS] + ["#row-optimizer", "#row-bn-eval", "#row-plots"]


def no_launch(*args: object, **kw: object) -> None:
    raise AssertionError("these tests never start a training")


def form(yolov5n: Path, tmp_path: Path, everything: bool = False, draft: LaunchDraft | None = None) -> LaunchScreen:
    info = read_checkpoint(yolov5n)
    plan = FreezePlan(info, frozenset(p.name for p in info.parameters)) if everything else preset(info, "backbone")
    return LaunchScreen(info, plan, AppDeps(state_dir=tmp_path / "state", launcher=no_launch), None, draft=draft)


def on_screen(app: Any, selector: str) -> bool:
    """The widget lies wholly inside the terminal, above the footer row."""
    r = app.screen.query_one(selector).region
    return r.height > 0 and r.y >= 0 and r.bottom <= app.size.height - 1


async def test_the_whole_form_fits_80x24_and_problems_stay_in_view(yolov5n: Path, tmp_path: Path) -> None:
    app = Host(form(yolov5n, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert all(on_screen(app, sel) for sel in [*FIELD_ROWS, "#launch-buttons", "#launch-result"])
        screen.query_one("#in-data", Input).value = str(tmp_path / "missing.yaml")
        screen.query_one("#in-batch", Input).value = "lots"
        screen.query_one("#in-device", Input).focus()
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "not launched" in screen_text(app), "the launch refused, said on screen")
        text = screen_text(app)
        assert (
            "2 problem(s) to fix" in text and "data YAML not found" in text and "'lots' is not a whole number" in text
        )
        assert on_screen(app, "#err-data") and on_screen(app, "#err-batch") and on_screen(app, "#launch-result")
        assert screen.query_one("#in-data").has_focus  # the cursor is on the first field to fix


async def test_a_problem_of_no_field_is_in_the_result_line(yolov5n: Path, tmp_path: Path) -> None:
    """The plan freezes the Detect convs and the data has 2 classes (the checkpoint 80): the form
    says so above the fields, where it cannot be scrolled off."""
    data = make_dataset(tmp_path / "ds", n_train=2, n_val=1, size=64, nc=2)
    app = Host(form(yolov5n, tmp_path, everything=True))
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#in-data", Input).value = str(data)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "not launched" in screen_text(app), "the refusal")
        assert "re-initialised and cannot stay frozen" in str(app.screen.query_one("#launch-result").render())
        assert on_screen(app, "#launch-result")


async def test_esc_keeps_what_was_typed(yolov5n: Path, tmp_path: Path) -> None:
    drafts: list[LaunchDraft | None] = []
    first = form(yolov5n, tmp_path)
    app = Host(Screen())
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(first, drafts.append)
        await pilot.pause()
        first.query_one("#in-epochs", Input).value = "7"
        first.query_one("#in-name", Input).value = "frozen-backbone"
        await pilot.press("escape")
        await wait_for(pilot, lambda: drafts, "the form left")
        again = form(yolov5n, tmp_path, draft=drafts[0])
        app.push_screen(again)
        await pilot.pause()
        assert again.query_one("#in-epochs", Input).value == "7"
        assert again.query_one("#in-name", Input).value == "frozen-backbone"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    d = tmp_path / "datasets"
    d.mkdir()
    for name in ("coco128.yaml", "coco.yaml", "coco-notes.txt"):
        (d / name).write_text("x")
    (d / "coco-images").mkdir()
    return d


async def test_tab_completes_paths_like_a_shell(yolov5n: Path, tmp_path: Path, files: Path) -> None:
    app = Host(form(yolov5n, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        data = app.screen.query_one("#in-data", Input)
        data.focus()
        data.value = str(files / "co")
        await pilot.press("tab")
        assert data.value == str(files / "coco") and data.has_focus
        hint = screen_text(app)
        assert "coco-images/" in hint and "coco128.yaml" in hint and "coco.yaml" in hint
        assert "coco-notes.txt" not in hint  # the data field offers YAML files (and folders)
        await pilot.press("1", "tab")
        assert data.value == str(files / "coco128.yaml")
        await pilot.press("tab")  # complete already: Tab moves on (to the row's Demo data button)
        assert app.screen.focused is app.screen.query_one("#demo-data")

        project = app.screen.query_one("#in-project", Input)
        project.focus()
        project.value = str(files / "c")
        await pilot.press("tab")
        assert project.value == str(files / "coco-images") + "/"  # folders only: the one folder


async def test_tab_in_a_folder_of_100k_entries_stops_early_and_says_so(yolov5n: Path, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(100_000):
        os.close(os.open(big / f"img{i:06d}.yaml", os.O_CREAT | os.O_WRONLY, 0o644))
    app = Host(form(yolov5n, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        data = app.screen.query_one("#in-data", Input)
        data.focus()
        data.value = str(big) + "/img"
        await pilot.press("tab")
        await wait_for(pilot, lambda: f"over {MAX_SCAN:,} entries" in screen_text(app), "the bounded listing")
    c = complete_path(str(big) + "/img")
    assert c.truncated and len(c.candidates) <= 8


def test_complete_path_keeps_what_was_typed(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(files.parent))
    assert complete_path("~/data").text == "~/datasets/"  # "~" stays as typed
    monkeypatch.chdir(files)
    assert complete_path("coco1").text == "coco128.yaml"  # relative to the working folder
    assert complete_path("zz").matches == 0
