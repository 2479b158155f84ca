"""Export dialog: pick a format, see exactly what will be written and any note, write or copy.

The text comes from ``yolofreeze.core.plan.freeze.export``; the JSON plan file carries the checkpoint's hash,
so previews are made in a thread worker (the first hash of a large file takes a moment). The format
and the file name follow each other through core/plan/formats.py: typing ``plan.json`` selects json,
picking json renames the file's suffix. The dialog dismisses with the format and path as left, so the
main screen can open the next one the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from yolofreeze.core.plan.formats import format_for_path, path_for, stem_of
from yolofreeze.core.plan.freeze import FORMATS, Export, FreezePlan, export
from yolofreeze.core.safeio import no_space_message, write_atomic
from yolofreeze.tui.format import safe_text
from yolofreeze.tui.screens.confirm import ConfirmScreen


@dataclass(frozen=True)
class ExportChoice:
    """The dialog as the user left it: the next one opens on the same format and path."""

    format: str
    path: str
    written: bool = False


class FormatButton(RadioButton):
    """A radio button whose mark is a character, not only a colour: with NO_COLOR the selected
    format still reads ● and the others are blank."""

    def watch_value(self) -> None:
        self.BUTTON_INNER = "●" if self.value else " "
        super().watch_value()


class FormatSet(RadioSet):
    """Arrow keys select the format they move to (as in most dialogs), not just highlight it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,right", "select_next", "Next format", show=False),
        Binding("up,left", "select_previous", "Previous format", show=False),
    ]

    def _from_pressed(self) -> None:
        # RadioSet highlights its first button on mount, whichever is pressed: move from the pressed one
        if self.pressed_index >= 0:
            self._selected = self.pressed_index

    def action_select_next(self) -> None:
        self._from_pressed()
        self.action_next_button()
        self.action_toggle_button()

    def action_select_previous(self) -> None:
        self._from_pressed()
        self.action_previous_button()
        self.action_toggle_button()


class ExportScreen(ModalScreen[ExportChoice]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+s", "write", "Write file", priority=True),
        Binding("ctrl+y", "copy", "Copy", priority=True),
    ]
    HELP_SECTION = "Export"

    def __init__(self, plan: FreezePlan, sha256: Callable[[], str], path: str, fmt: str = "yolov5") -> None:
        super().__init__()
        self.plan = plan
        self.sha256 = sha256
        self.format = fmt
        self.initial_path = path
        self.result: Export | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog", classes="dialog"):
            yield Label("Export the freeze plan", id="export-title")
            with FormatSet(id="export-format"):
                for fmt in FORMATS:
                    yield FormatButton(fmt, value=fmt == self.format, id=f"format-{fmt}")
            with VerticalScroll(id="export-preview-box"):
                yield Static("…", id="export-preview", markup=False)
            yield Static("", id="export-note", markup=False)
            yield Input(self.initial_path, id="export-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Write ^s", variant="primary", id="export-write")
                yield Button("Copy ^y", id="export-copy")
                yield Button("Close esc", id="export-close")

    def on_mount(self) -> None:
        for button in self.query(FormatButton):
            button.BUTTON_INNER = "●" if button.value else " "
        self.query_one(RadioSet).focus()
        self._start_preview(self.format)

    @property
    def path(self) -> str:
        return self.query_one("#export-path", Input).value

    @on(RadioSet.Changed)
    def _format_changed(self, event: RadioSet.Changed) -> None:
        fmt = str(event.pressed.label)
        if fmt == self.format:  # selected because the file name asked for it: the name stays
            return
        self.format = fmt
        with self.prevent(Input.Changed):
            self.query_one("#export-path", Input).value = path_for(stem_of(self.path), fmt)
        self._start_preview(fmt)

    @on(Input.Changed, "#export-path")
    def _path_changed(self, event: Input.Changed) -> None:
        fmt = format_for_path(event.value)
        if fmt is None or fmt == self.format:
            return
        self.format = fmt
        self.query_one(f"#format-{fmt}", RadioButton).value = True
        self._start_preview(fmt)

    @on(Input.Submitted, "#export-path")
    def _path_submitted(self) -> None:
        self.action_write()

    def _start_preview(self, fmt: str) -> None:
        self.app.run_worker(
            partial(self._preview, fmt),
            thread=True,
            exclusive=True,
            group="export-preview",
            exit_on_error=False,
            description="export preview",
        )

    def _preview(self, fmt: str) -> None:
        result = export(self.plan, fmt, self.sha256() if fmt == "json" else None)
        self.app.call_from_thread(self._show, result)

    def _show(self, result: Export) -> None:
        if not self.is_attached or result.format != self.format:
            return
        self.result = result
        preview = self.query_one("#export-preview", Static)
        # parameter names come from the file: escaped (one per line, so newlines stay)
        preview.update(safe_text(result.text, keep_newlines=True) or "(this format cannot carry the plan)")
        preview.set_class(not result.text, "-empty")
        note = self.query_one("#export-note", Static)
        note.update(f"note: {safe_text(result.note)}" if result.note else "")
        note.set_class(not result.exact, "-error")

    @on(Button.Pressed, "#export-write")
    def action_write(self) -> None:
        result = self.result
        if result is None or result.format != self.format:
            return
        if not result.text:
            self.notify(safe_text(result.note) or "this format cannot carry the plan", severity="error", markup=False)
            return
        path = os.path.expanduser(self.path.strip())
        if not path:
            self.notify("Give a file path to write to", severity="error")
            return
        if os.path.lexists(path) and not os.path.isdir(path):

            def answer(overwrite: bool | None) -> None:
                if overwrite:
                    self._write(result, path)

            question = f"{safe_text(path)} exists. Overwrite it?"
            self.app.push_screen(ConfirmScreen(question, "Overwrite", "Keep it"), answer)
            return
        self._write(result, path)

    def _write(self, result: Export, path: str) -> None:
        try:
            write_atomic(path, result.text)
        except OSError as e:  # safeio refuses devices, directories, FIFOs and symlinks with a reason
            why = no_space_message(e, path) or f"Cannot write {path}: {e.strerror or e}"
            self.notify(safe_text(why), severity="error", markup=False)
            return
        self.notify(safe_text(f"Wrote {result.format} export to {path}"), timeout=3, markup=False)
        self.dismiss(ExportChoice(result.format, self.path, written=True))

    @on(Button.Pressed, "#export-copy")
    def action_copy(self) -> None:
        result = self.result
        if result is None or not result.text:
            self.notify("Nothing to copy: this format cannot carry the plan", severity="error")
            return
        self.app.copy_to_clipboard(result.text)
        self.notify(f"Copied the {result.format} export to the clipboard", timeout=3)

    @on(Button.Pressed, "#export-close")
    def action_close(self) -> None:
        self.dismiss(ExportChoice(self.format, self.path))
