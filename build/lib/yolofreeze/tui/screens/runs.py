"""Recorded runs, live and finished; Enter opens a run's monitor from its start."""

from __future__ import annotations

import time
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from yolofreeze.core.training.runs import RunStatus, list_runs, run_status
from yolofreeze.tui.deps import AppDeps


class RunsListed(Message):
    def __init__(self, statuses: list[RunStatus]) -> None:
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
        self.statuses: list[RunStatus] = []

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
        runs = list_runs(self.deps.state_dir)
        self.post_message(RunsListed([run_status(r) for r in reversed(runs)]))

    @on(RunsListed)
    def show_runs(self, event: RunsListed) -> None:
        self.statuses = event.statuses
        table = self.query_one("#runs-table", DataTable)
        table.clear()
        for st in event.statuses:
            r, p = st.record, st.progress
            epoch = f"{p.epoch + 1}/{p.epochs}" if p.epochs and p.started else "-"
            table.add_row(
                r.run_id,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
                st.state,
                epoch,
                r.device,
                str(r.frozen),
                st.save_dir or "-",
                key=r.run_id,
            )
        if not event.statuses:
            self.query_one("#runs-title", Static).update("no recorded runs yet")

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_run(str(event.row_key.value))

    def action_open(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        if self.statuses and 0 <= table.cursor_row < len(self.statuses):
            self.open_run(self.statuses[table.cursor_row].record.run_id)

    def open_run(self, run_id: str) -> None:
        from yolofreeze.tui.screens.monitor import MonitorScreen

        self.app.push_screen(MonitorScreen(run_id, self.deps))
