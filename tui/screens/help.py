"""Every key binding, read from the bindings themselves so the list cannot drift."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

# Keys Textual or the tree provide that are worth knowing, with no Binding of ours behind them.
EXTRA = [
    ("up/down, j/k", "Move the cursor"),
    ("pgup/pgdn, home/end", "Page / jump"),
    ("mouse", "Click a row to select and expand it; click its ■/□ symbol to toggle it"),
    ("ctrl+p", "Command palette: presets, export, save, load, settings"),
]
# Settings in the summary can also be clicked.


def _key_text(binding: Binding) -> str:
    names = {
        "question_mark": "?",
        "slash": "/",
        "right_square_bracket": "]",
        "left_square_bracket": "[",
        "space": "space",
    }
    return ", ".join(names.get(k.strip(), k.strip()) for k in binding.key.split(","))


def binding_rows() -> list[tuple[str, str, str]]:
    """(section, keys, what it does) for the main screen, the tree and the app."""
    from yolofreeze.tui.app import YoloFreezeApp
    from yolofreeze.tui.screens.main import MainScreen
    from yolofreeze.tui.widgets.layer_tree import LayerTree

    rows: list[tuple[str, str, str]] = []
    for section, bindings in (
        ("Tree", LayerTree.BINDINGS),
        ("Plan", MainScreen.BINDINGS),
        ("App", YoloFreezeApp.BINDINGS),
    ):
        for b in bindings:
            if not isinstance(b, Binding) or b.action in ("cursor_up", "cursor_down"):
                continue
            rows.append((section, _key_text(b), b.tooltip or b.description))
    rows += [("Other", k, d) for k, d in EXTRA]
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 1), show_header=False, expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        last = ""
        for section, keys, what in binding_rows():
            if section != last:
                table.add_row(Text(section.upper(), "bold underline"), "")
                last = section
            table.add_row(keys, what)
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label("Keys  (escape closes)", id="help-title")
            with VerticalScroll():
                yield Static(table, id="help-table")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
