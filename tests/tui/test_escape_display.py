"""The TUI shows strings from files literally: no Rich markup from a name, no escape sequence reaches
the terminal, the HOSTILE banner quotes the payload escaped, and plan files that are FIFOs never hang.

Files come from tests/escape_corpus.py (a real yolov5n with one string changed). What is checked is
what Textual renders: the strips of the tree rows, banner and dialogs, segment by segment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.errors import MarkupError
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Input, Static

from tests.escape_corpus import ESC, MODULE_PAYLOADS, escape_files
from tests.tui.tui_support import fake_estimator, settle
from yolofreeze.tui.app import YoloFreezeApp, make_app
from yolofreeze.tui.format import safe_text
from yolofreeze.tui.screens.error import ErrorScreen
from yolofreeze.tui.screens.export import ExportScreen
from yolofreeze.tui.screens.main import MainScreen
from yolofreeze.tui.screens.prompt import PromptScreen
from yolofreeze.tui.widgets.hostile_banner import HostileBanner
from yolofreeze.tui.widgets.layer_tree import LayerTree


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, yolov5n: Path) -> dict[str, Path]:
    return escape_files(tmp_path_factory.mktemp("escape-tui"), yolov5n)


def app_for(path: Path | str, **kw: object) -> YoloFreezeApp:
    kw.setdefault("estimator", fake_estimator())
    kw.setdefault("estimate_delay", 0.05)
    return make_app(path, **kw)  # type: ignore[arg-type]


def row_strip(app: YoloFreezeApp, key: str) -> Strip:
    tree = app.screen.query_one(LayerTree)
    node = tree.node_for(key)
    assert node is not None, key
    tree.scroll_to_line(node.line, animate=False)
    return tree._render_line(node.line, 0, tree.size.width, tree.rich_style)


def assert_inert(strip: Strip) -> None:
    """No control character in any segment and no link: what reaches the terminal is text."""
    for seg in strip:
        assert ESC not in seg.text and "\x07" not in seg.text and "\x9b" not in seg.text, repr(seg.text)
        assert seg.style is None or not seg.style.link, seg


def test_the_markup_payloads_are_live_under_plain_rich() -> None:
    """What Tree.add(str) did with a module name: parse it as markup (a link, or an exception)."""
    assert Text.from_markup(MODULE_PAYLOADS["markup_module"]).spans[0].style == "link https://evil"
    with pytest.raises(MarkupError):
        Text.from_markup(MODULE_PAYLOADS["close_tag_module"])


@pytest.mark.parametrize("name", sorted(MODULE_PAYLOADS))
async def test_module_names_show_literally(files: dict[str, Path], name: str) -> None:
    payload = MODULE_PAYLOADS[name]
    app = app_for(files[f"{name}.pt"])
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        tree = app.screen.query_one(LayerTree)
        tree.node_for("model.0").expand()  # type: ignore[union-attr]
        await pilot.pause()
        strip = row_strip(app, f"model.0.{payload}")
        assert_inert(strip)
        assert safe_text(payload) in strip.text  # shown, literally, brackets and all
        weight = row_strip(app, f"model.0.{payload}.weight")
        assert_inert(weight)


async def test_hostile_banner_and_toasts_quote_the_payload_escaped(files: dict[str, Path]) -> None:
    app = app_for(files["hostile_sgr_conceal.pt"])
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(HostileBanner)
        strips = banner.render_lines(Region(0, 0, banner.size.width, banner.size.height))  # as drawn
        text = "".join(s.text for s in strips)
        assert "HOSTILE FILE" in text and "os.system\\x1b[8m" in text
        for s in strips:
            assert_inert(s)
        # the layer rows carry the class name too
        assert_inert(row_strip(app, "model.0"))
        assert "system\\x1b[8m" in row_strip(app, "model.0").text
        await pilot.press("t")  # training refused: the toast names the globals
        await pilot.pause()
        refused = [n for n in app._notifications if "Training refused" in n.message]
        assert refused and ESC not in refused[0].message and not refused[0].markup
        assert "os.system\\x1b[8m" in refused[0].message


async def test_export_preview_of_escape_names_is_escaped(files: dict[str, Path]) -> None:
    app = app_for(files["escape_module.pt"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        await pilot.click("#format-names")
        await settle(pilot)
        preview = app.screen.query_one("#export-preview", Static)
        shown = str(preview.render())
        assert ESC not in shown and "model.0.conv\\x1b[8m\\x1b]0;pwned-title\\x07.weight" in shown
        assert app.screen.result is not None and f"conv{ESC}[8m" in app.screen.result.text  # file keeps it exact


async def test_error_screen_message_is_escaped(tmp_path: Path) -> None:
    missing = tmp_path / f"gone{ESC}]0;pwned\x07[b]x[/b].pt"
    app = app_for(missing)
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        shown = str(app.screen.query_one("#error-message", Static).render())
        assert ESC not in shown and "gone\\x1b]0;pwned\\x07[b]x[/b].pt" in shown


async def test_a_fifo_plan_file_never_hangs_the_app(yolov5n: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    app = app_for(yolov5n, plan_file=str(fifo))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("Plan not applied" in n.message and "FIFO" in n.message for n in app._notifications)
        # and loading it from the screen (o) answers at once too
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one(Input).value = str(fifo)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert sum("FIFO" in n.message for n in app._notifications) == 2
