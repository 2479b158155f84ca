"""Export dialog: pick a format, see exactly what will be written and any note, write or copy.

The text comes from ``yolofreeze.core.plan.freeze.export``; the JSON plan file carries the checkpoint's hash,
so previews are made in a thread worker (the first hash of a large file takes a moment).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from yolofreeze.core.plan.freeze import FORMATS, Export, FreezePlan, export
from yolofreeze.core.safeio import no_space_message, write_atomic
from yolofreeze.tui.format import safe_text

EXTENSIONS = {
    "yolov5": "args.txt",
    "python": "py",
    "ultralytics": "ultralytics.txt",
    "json": "json",
    "names": "names.txt",
}


class ExportScreen(ModalScreen[str | None]):
    """Dismisses with the path written, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+s", "write", "Write file", priority=True),
        Binding("ctrl+y", "copy", "Copy", priority=True),
    ]

    def __init__(self, plan: FreezePlan, sha256: Callable[[], str], plan_path: str, fmt: str = "yolov5") -> None:
        super().__init__()
        self.plan = plan
        self.sha256 = sha256
        self.stem = plan_path.removesuffix(".json")
        self.format = fmt
        self.result: Export | None = None
        self._path_edited = False

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog", classes="dialog"):
            yield Label("Export the freeze plan", id="export-title")
            with RadioSet(id="export-format"):
                for fmt in FORMATS:
                    yield RadioButton(fmt, value=fmt == self.format, id=f"format-{fmt}")
            with VerticalScroll(id="export-preview-box"):
                yield Static("…", id="export-preview", markup=False)
            yield Static("", id="export-note", markup=False)
            yield Input(self.path_for(self.format), id="export-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Write ^s", variant="primary", id="export-write")
                yield Button("Copy ^y", id="export-copy")
                yield Button("Close esc", id="export-close")

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()
        self._start_preview(self.format)

    def path_for(self, fmt: str) -> str:
        return f"{self.stem}.{EXTENSIONS[fmt]}"

    @on(RadioSet.Changed)
    def _format_changed(self, event: RadioSet.Changed) -> None:
        fmt = str(event.pressed.label)
        self.format = fmt
        if not self._path_edited:
            with self.prevent(Input.Changed):
                self.query_one("#export-path", Input).value = self.path_for(fmt)
        self._start_preview(fmt)

    @on(Input.Changed, "#export-path")
    def _path_changed(self) -> None:
        self._path_edited = True

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
        if result is None:
            return
        if not result.text:
            self.notify(safe_text(result.note) or "this format cannot carry the plan", severity="error", markup=False)
            return
        path = os.path.expanduser(self.query_one("#export-path", Input).value.strip())
        if not path:
            self.notify("Give a file path to write to", severity="error")
            return
        try:
            write_atomic(path, result.text)
        except OSError as e:  # safeio refuses devices, directories, FIFOs and symlinks with a reason
            why = no_space_message(e, path) or f"Cannot write {path}: {e.strerror or e}"
            self.notify(safe_text(why), severity="error", markup=False)
            return
        self.notify(safe_text(f"Wrote {result.format} export to {path}"), timeout=3, markup=False)
        self.dismiss(path)

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
        self.dismiss(None)
