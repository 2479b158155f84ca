"""Questions with buttons: a yes/no (``ConfirmScreen``) and the unsaved-plan quit (``QuitScreen``)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True or False. The question may quote a path: it is never parsed as markup."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    HELP_SECTION = "Question"

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(self.question, id="confirm-question", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="confirm-yes")
                yield Button(f"{self.no} (n)", variant="primary", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class QuitScreen(ModalScreen[str]):
    """Unsaved plan on quit: dismisses with "save", "quit" or "stay"."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "answer('save')", "Save and quit"),
        Binding("y,q", "answer('quit')", "Quit without saving"),
        Binding("n,escape", "answer('stay')", "Stay"),
    ]
    HELP_SECTION = "Quit"

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label("The plan has unsaved changes.", id="confirm-question", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save and quit (s)", variant="primary", id="quit-save")
                yield Button("Quit (y)", variant="error", id="quit-quit")
                yield Button("Stay (n)", id="quit-stay")

    def on_mount(self) -> None:
        self.query_one("#quit-save", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id).removeprefix("quit-"))

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)
