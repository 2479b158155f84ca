"""The file could not be read: say why, and quit with exit code 1."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from yolofreeze.core.errors import EXIT_UNREADABLE
from yolofreeze.tui.format import safe_text


class ErrorScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,escape,enter", "quit_unreadable", "Quit"),
    ]

    def __init__(self, path: str, message: str) -> None:
        super().__init__()
        self.path = path
        self.message = message

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="error-box"):
            yield Label("Cannot open this checkpoint", id="error-title")
            # the message quotes the path and file content: escaped, and never read as markup
            yield Static(safe_text(self.message), id="error-message", markup=False)
            yield Label("Press q to quit.", id="error-hint")
        yield Footer()

    def action_quit_unreadable(self) -> None:
        self.app.exit(EXIT_UNREADABLE)
