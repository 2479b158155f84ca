"""Recorded runs, live and finished; Enter opens a run's monitor from its start.

A damaged record is a row saying "unreadable record: why" under its folder name; it never empties
the list or stops the app. Cells are plain Text: a record's strings are never read as markup.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from yolofreeze.core.training.runs import RunStatus, UnreadableRun, run_status, scan_runs
from yolofreeze.tui.deps import AppDeps


class RunsListed(Message):
    def __init__(self, statuses: list[RunStatus | UnreadableRun]) -> None:
        super().__init__()
        self.statuses = statuses


class RunsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Refresh"),
        Binding("enter", "open", "Monitor", show=True),
    ]

    def __init__(self, deps: AppDeps) -> None:
        super().__init__()
        self.deps = deps
        self.statuses: list[RunStatus | UnreadableRun] = []

    def compose(self) -> ComposeResult:
        yield Static("training runs (newest first)", id="runs-title")
        table: DataTable[str] = DataTable(id="runs-table", cursor_type="row")
        table.add_columns("run", "started", "state", "epoch", "device", "frozen", "save dir")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_runs()

    @work(thread=True, exclusive=True, group="runs-list", description="reading run records")
    def load_runs(self) -> None:
        entries = scan_runs(self.deps.state_dir)
        self.post_message(RunsListed([e if isinstance(e, UnreadableRun) else run_status(e) for e in reversed(entries)]))

    @on(RunsListed)
    def show_runs(self, event: RunsListed) -> None:
        self.statuses = event.statuses
        table = self.query_one("#runs-table", DataTable)
        table.clear()
        for st in event.statuses:
            if isinstance(st, UnreadableRun):
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.mtime))
                cells = [st.run_id, when, st.message, "-", "-", "-", st.run_dir]
                table.add_row(*(Text(c) for c in cells), key=st.run_id)
                continue
            r, p = st.record, st.progress
            epoch = f"{p.epoch + 1}/{p.epochs}" if p.epochs and p.started else "-"
            cells = [
                r.run_id,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
                st.state,
                epoch,
                r.device,
                str(r.frozen_tensors),
                st.save_dir or "-",
            ]
            table.add_row(*(Text(c) for c in cells), key=r.run_id)
        if not event.statuses:
            self.query_one("#runs-title", Static).update("no recorded runs yet")

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_run(str(event.row_key.value))

    def action_open(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        if self.statuses and 0 <= table.cursor_row < len(self.statuses):
            st = self.statuses[table.cursor_row]
            self.open_run(st.run_id if isinstance(st, UnreadableRun) else st.record.run_id)

    def open_run(self, run_id: str) -> None:
        from yolofreeze.tui.screens.monitor import MonitorScreen

        bad = next((s for s in self.statuses if isinstance(s, UnreadableRun) and s.run_id == run_id), None)
        if bad is not None:
            self.notify(f"run {run_id}: {bad.message}", severity="warning", markup=False)
            return
        self.app.push_screen(MonitorScreen(run_id, self.deps))
