"""Recorded runs, live and finished; Enter opens a run's monitor from its start.

The list refreshes itself every REFRESH_EVERY seconds. A run that has ended does not change, so
its status is read once and kept: a tick reads the small run.json files and the live runs' status,
never an ended run's log again. ``d`` removes the selected run's record, ``p`` those of every ended
run (both ask first; core.training.prune decides what may go; the training outputs stay).

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

from yolofreeze.core.training.prune import Removal, check_removable, prune_inputs, remove
from yolofreeze.core.training.runs import RunStatus, UnreadableRun, run_status, runs_root, scan_runs
from yolofreeze.tui.deps import AppDeps

REFRESH_EVERY = 2.0


class RunsListed(Message):
    def __init__(self, statuses: list[RunStatus | UnreadableRun]) -> None:
        super().__init__()
        self.statuses = statuses


class RunsRemoved(Message):
    def __init__(self, lines: list[str], warning: bool) -> None:
        super().__init__()
        self.lines, self.warning = lines, warning


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


class RunsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Refresh"),
        Binding("enter", "open", "Monitor", show=True),
        Binding("d", "delete", "Delete"),
        Binding("p", "prune", "Prune ended"),
        Binding("m", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
    ]

    def __init__(self, deps: AppDeps) -> None:
        super().__init__()
        self.deps = deps
        self.statuses: list[RunStatus | UnreadableRun] = []
        self._ended: dict[str, RunStatus] = {}  # written by the list worker only
        self._shown: list[tuple[str, ...]] = []
        self.marked: list[str] = []  # run ids marked for comparison, in the order marked
        self._drawn_statuses: list[RunStatus | UnreadableRun] = []  # what the table's rows show

    def compose(self) -> ComposeResult:
        yield Static("training runs (newest first)", id="runs-title")
        table: DataTable[str] = DataTable(id="runs-table", cursor_type="row")
        table.add_columns("run", "started", "state", "epoch", "device", "frozen tensors", "save dir")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()
        self.set_interval(REFRESH_EVERY, self.action_refresh)

    def action_refresh(self) -> None:
        self.load_runs()

    @work(thread=True, exclusive=True, group="runs-list", description="reading run records")
    def load_runs(self) -> None:
        entries = scan_runs(self.deps.state_dir)
        out: list[RunStatus | UnreadableRun] = []
        for e in reversed(entries):
            if isinstance(e, UnreadableRun):
                out.append(e)
                continue
            st = self._ended.get(e.run_id)
            if st is None or st.record != e:
                st = run_status(e)
                if st.ended:
                    self._ended[e.run_id] = st
            out.append(st)
        self.post_message(RunsListed(out))

    @staticmethod
    def _cells(st: RunStatus | UnreadableRun) -> tuple[str, ...]:
        if isinstance(st, UnreadableRun):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.mtime))
            return (st.run_id, when, st.message, "-", "-", "-", st.run_dir)
        r, p = st.record, st.progress
        epoch = f"{p.epoch + 1}/{p.epochs}" if p.epochs and p.started else "-"
        return (
            r.run_id,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
            st.state,
            epoch,
            r.device,
            str(r.frozen_tensors),
            st.save_dir or "-",
        )

    @on(RunsListed)
    def show_runs(self, event: RunsListed) -> None:
        self.statuses = event.statuses
        self._draw()

    def _draw(self) -> None:
        rows = [self._cells(st) for st in self.statuses]
        title = "training runs (newest first)" if rows else "no recorded runs yet"
        if self.marked:
            title += f" · {len(self.marked)} marked: c compares them"
        self.query_one("#runs-title", Static).update(title)
        shown = [(("* " if c[0] in self.marked else "") + c[0], *c[1:]) for c in rows]
        if shown == self._shown:
            return  # nothing changed: no redraw, the cursor stays where the user put it
        table = self.query_one("#runs-table", DataTable)
        old_ids = [self._run_id_of(st) for st in self._drawn_statuses]
        selected = old_ids[table.cursor_row] if 0 <= table.cursor_row < len(old_ids) else None
        self._shown = shown
        self._drawn_statuses = list(self.statuses)
        table.clear()
        for cells, drawn in zip(rows, shown, strict=True):
            table.add_row(*(Text(c) for c in drawn), key=cells[0])
        ids = [c[0] for c in rows]
        if selected in ids:  # the same run stays selected when a new one appears above it
            table.move_cursor(row=ids.index(selected), animate=False)

    def _selected(self) -> RunStatus | UnreadableRun | None:
        table = self.query_one("#runs-table", DataTable)
        if self.statuses and 0 <= table.cursor_row < len(self.statuses):
            return self.statuses[table.cursor_row]
        return None

    def action_mark(self) -> None:
        st = self._selected()
        if st is None:
            return
        run_id = st.run_id if isinstance(st, UnreadableRun) else st.record.run_id
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked.append(run_id)
        self._draw()

    def action_compare(self) -> None:
        """The marked runs side by side (the first marked is the baseline); unmarked: the selected one."""
        from yolofreeze.tui.screens.compare import CompareScreen

        items = [r for r in self.marked if any(self._run_id_of(s) == r for s in self.statuses)]
        if not items:
            st = self._selected()
            if st is None:
                self.notify("no run to compare: mark runs with m, then press c")
                return
            items = [self._run_id_of(st)]
        self.app.push_screen(CompareScreen(items, state=self.deps.state_dir))

    @staticmethod
    def _run_id_of(st: RunStatus | UnreadableRun) -> str:
        return st.run_id if isinstance(st, UnreadableRun) else st.record.run_id

    def action_delete(self) -> None:
        st = self._selected()
        if st is None:
            self.notify("no run selected")
            return
        entry = st if isinstance(st, UnreadableRun) else st.record
        verdict = check_removable(entry, runs_root(self.deps.state_dir))
        if not isinstance(verdict, Removal):
            self.notify(f"run {verdict.run_id} is not removed: {verdict.why}", severity="warning", markup=False)
            return
        self._confirm_removal([verdict], f"Delete the record of run {verdict.run_id} ({_size(verdict.bytes)})?")

    def action_prune(self) -> None:
        root = runs_root(self.deps.state_dir)
        removals = []
        for st in self.statuses:
            if isinstance(st, RunStatus) and st.ended:
                verdict = check_removable(st.record, root)
                if isinstance(verdict, Removal):
                    removals.append(verdict)
        if not removals:
            self.notify("no ended run to prune")
            return
        total = _size(sum(r.bytes for r in removals))
        n = len(removals)
        self._confirm_removal(removals, f"Delete the records of all {n} ended run{'s' if n != 1 else ''} ({total})?")

    def _confirm_removal(self, removals: list[Removal], question: str) -> None:
        from yolofreeze.tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.remove_runs(removals)

        question += (
            " The training outputs (weights, results.csv) are kept; a shared input copy goes only "
            "when no other run uses it."
        )
        self.app.push_screen(ConfirmScreen(question, yes="Delete", no="Keep"), answered)

    @work(thread=True, exclusive=True, group="runs-remove", description="removing run records")
    def remove_runs(self, removals: list[Removal]) -> None:
        root = runs_root(self.deps.state_dir)
        done: list[str] = []
        problems: list[str] = []
        for removal in removals:
            problem = remove(removal)
            if problem:
                problems.append(problem)
            else:
                done.append(removal.run_id)
        inputs = prune_inputs(root, [r for r in removals if r.run_id in done])
        freed = sum(r.bytes for r in removals if r.run_id in done) + sum(i.bytes for i in inputs)
        n = len(done)
        lines = [f"removed {n} run record{'s' if n != 1 else ''} ({_size(freed)})", *problems]
        self.post_message(RunsRemoved(lines, bool(problems)))

    @on(RunsRemoved)
    def removed(self, event: RunsRemoved) -> None:
        self.notify("\n".join(event.lines), severity="warning" if event.warning else "information", markup=False)
        self.action_refresh()

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_run(str(event.row_key.value))

    def action_open(self) -> None:
        st = self._selected()
        if st is not None:
            self.open_run(st.run_id if isinstance(st, UnreadableRun) else st.record.run_id)

    def open_run(self, run_id: str) -> None:
        from yolofreeze.tui.screens.monitor import MonitorScreen

        bad = next((s for s in self.statuses if isinstance(s, UnreadableRun) and s.run_id == run_id), None)
        if bad is not None:
            self.notify(f"run {run_id}: {bad.message}", severity="warning", markup=False)
            return
        self.app.push_screen(MonitorScreen(run_id, self.deps))
