"""Live view of one run: GPUs (NVML) or the training processes' CPU/RAM, progress, curves, log, ending.

Two background threads feed it and nothing else touches the disk or NVML:
``yolofreeze.core.monitoring.gpu.SamplerThread``
(2 Hz by default; every sample goes into the sparklines' history) and a worker polling the run's
files. The screen is redrawn about once a second (UI_EVERY) with the newest sample and poll; the
ending is shown as soon as it is polled. Leaving the screen leaves the training running; stopping
it asks first.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from yolofreeze.core.errors import YoloFreezeError
from yolofreeze.core.monitoring.gpu import GpuSample, SamplerThread, default_sampler, process_tree
from yolofreeze.core.training.runs import (
    LogFollower,
    RunRecord,
    RunStatus,
    find_run,
    read_json,
    read_results,
    record_problem,
    run_status,
    stop_run,
)
from yolofreeze.core.training.verify import read_verdict
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.widgets.ending_banner import EndingBanner
from yolofreeze.tui.widgets.epoch_table import EpochTable
from yolofreeze.tui.widgets.gpu_panel import HISTORY, GpuPanel
from yolofreeze.tui.widgets.log_tail import LogTail
from yolofreeze.tui.widgets.memory_compare import MemoryCompare
from yolofreeze.tui.widgets.metrics_chart import MetricsChart
from yolofreeze.tui.widgets.process_panel import ProcessPanel
from yolofreeze.tui.widgets.train_progress import TrainProgress

# Seconds between screen updates. Samples (2 Hz) all go into the sparklines' history; the screen
# shows the newest one at most this long after it was taken. Each screen update costs several ms
# of Textual redrawing whatever changed, most of the monitor's CPU, so it runs at 1 Hz, not 2 Hz.
UI_EVERY = 1.0
# From this size on, the gauges, taller curves and the per-epoch table take the screen; the log
# keeps a dozen lines (it is in train.log in full).
LARGE = (160, 45)
# The log pane keeps 2000 lines; a few MiB from the end is plenty, and never gigabytes.
LOG_TAIL_BYTES = 2 << 20


def frozen_words(r: RunRecord) -> str:
    """ "99 tensors (3,468,544 parameters)": the record counts tensors, which users read as parameters."""
    params = r.options.get("frozen_params")
    tensors = f"{r.frozen_tensors} tensor{'s' if r.frozen_tensors != 1 else ''}"
    return f"{tensors} ({params:,} parameters)" if isinstance(params, int) else tensors


class RunPolled(Message):
    def __init__(
        self,
        status: RunStatus,
        lines: list[str],
        results: tuple[list[str], list[list[float]]] | None,
        verdict: dict[str, Any] | None,
    ) -> None:
        super().__init__()
        self.status, self.lines, self.results, self.verdict = status, lines, results, verdict


class MonitorScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "stop", "Stop training"),
        Binding("escape,q", "close", "Back (training keeps running)"),
    ]
    DEFAULT_CSS = """
    MonitorScreen #monitor-title { text-style: bold; padding: 0 1; }
    MonitorScreen #monitor-top { height: auto; max-height: 60%; }
    MonitorScreen #monitor-left, MonitorScreen #monitor-right { width: 1fr; height: auto; }
    MonitorScreen #nvml-note { color: $warning; padding: 0 1; }
    MonitorScreen #gpu-panels { height: auto; }
    MonitorScreen #monitor-head { height: auto; }
    MonitorScreen #log-box { height: 1fr; min-height: 6; }
    MonitorScreen #footer-box { dock: bottom; height: auto; }
    MonitorScreen #footer-box Footer { dock: none; }
    MonitorScreen #monitor-epochs { display: none; width: 1fr; }
    MonitorScreen.-large #monitor-top { height: 1fr; max-height: 100%; }
    MonitorScreen.-large #monitor-epochs { display: block; height: 100%; }
    MonitorScreen.-large #log-box { height: 12; min-height: 6; }
    """

    def __init__(self, run_id: str, deps: AppDeps, interval: float = 0.5) -> None:
        super().__init__()
        self.run_id = run_id
        self.deps = deps
        self.interval = interval
        self.record: RunRecord | None = None
        self.status: RunStatus | None = None
        self.sampler: SamplerThread | None = None
        self.note_shown = False
        self.error_shown = False
        self.torch_reserved: tuple[int | None, int | None] = (None, None)
        self.nvml_run: int | None = None
        self._shown_sample: GpuSample | None = None
        self._samples: deque[GpuSample] = deque(maxlen=HISTORY)  # appended by the sampler thread
        self._gpu_panels: dict[int, GpuPanel] = {}
        self._shown_at = -1e9
        self._poll_lock = threading.Lock()
        self._pending: RunPolled | None = None

    def compose(self) -> ComposeResult:
        # Each screen update redraws every widget whose parent overlaps what changed; the screen
        # always does, so its direct children are plain boxes: the title, the log (with its
        # scrollbars) and the footer are redrawn only when they themselves change.
        with Vertical(id="monitor-head"):
            # record strings (paths, ids, errors) are shown as they are, never parsed as markup
            yield Static(f"run {self.run_id}", id="monitor-title", markup=False)
            yield Static("", id="nvml-note", markup=False)
        with Horizontal(id="monitor-top"):
            with VerticalScroll(id="monitor-left"):
                yield Vertical(id="gpu-panels")
                yield ProcessPanel()
            with Vertical(id="monitor-right"):
                yield TrainProgress()
                yield MemoryCompare(id="memory-compare")
                yield MetricsChart()
            yield EpochTable(id="monitor-epochs")
        yield EndingBanner(id="ending", markup=False)  # log lines are not markup
        with Vertical(id="log-box"):
            yield LogTail(id="log")
        with Vertical(id="footer-box"):
            yield Footer()

    def on_resize(self) -> None:
        large = self.size.width >= LARGE[0] and self.size.height >= LARGE[1]
        self.set_class(large, "-large")
        self.query_one(MetricsChart).set_curve_rows(3 if large else 1)

    def on_mount(self) -> None:
        self._process_panel = self.query_one(ProcessPanel)
        self.on_resize()
        try:
            self.record = find_run(self.run_id, self.deps.state_dir)
        except YoloFreezeError as e:
            self.query_one("#monitor-title", Static).update(f"run {self.run_id}: {e}")
            self.refresh_bindings()
            return
        problem = record_problem(self.record)
        if problem:
            # a damaged file is said once; nothing is followed that could lie or hang
            self.query_one("#monitor-title", Static).update(f"run {self.run_id}: unreadable record: {problem}")
            self.record = None
            self.refresh_bindings()
            return
        r = self.record
        self.query_one("#monitor-title", Static).update(
            f"run {r.run_id} — {frozen_words(r)} frozen, device {r.device}, BatchNorm policy "
            f"{'on (frozen BN in eval)' if r.bn_eval else 'off'} — log {r.log}"
        )
        self._show_memory()
        factory = self.deps.gpu_sampler_factory
        status = read_json(r.dir / "status.json") or {}
        uuids = [d.get("uuid", "") for d in status.get("devices", []) if d.get("uuid")]
        sampler = factory() if factory is not None else default_sampler(r.options.get("CUDA_VISIBLE_DEVICES"), uuids)
        pid = r.pid
        # Every sample is queued for the sparklines' history (a tick can fall between two samples).
        samples = self._samples
        self.sampler = SamplerThread(sampler, lambda: process_tree(pid), self.interval, samples.append).start()
        # The tick (every interval) records each new sample and, about once every UI_EVERY, shows the
        # newest sample and poll in one screen update: two sources must not become two updates.
        self.set_interval(self.interval, self._tick)
        self.poll_run()

    def on_unmount(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        self.workers.cancel_group(self, "run-poll")

    @work(thread=True, exclusive=True, group="run-poll", description="following the run's files")
    def poll_run(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        assert self.record is not None
        follower = LogFollower(self.record.log, tail_bytes=LOG_TAIL_BYTES)
        last_results_mtime = -1.0
        # a huge log is shown from near its end; say what was left out, and where it is
        head = [f"… {follower.skipped:,} earlier bytes of the log not shown: {self.record.log}"]
        if not follower.skipped:
            head = []

        while not worker.is_cancelled:
            try:  # the log is opened when its size differs from what was read, not every poll
                size = os.stat(self.record.log).st_size
            except OSError:
                size = -1
            lines = follower.read() if size != follower.offset else []
            if head:
                lines, head = head + lines, []
            status = run_status(self.record)
            results = None
            if status.save_dir:
                from pathlib import Path

                csv = Path(status.save_dir) / "results.csv"
                mtime = csv.stat().st_mtime if csv.exists() else -1.0
                if mtime != last_results_mtime:
                    last_results_mtime = mtime
                    results = read_results(status.save_dir)
            verdict = read_verdict(self.record.dir) if status.ended else None
            if status.ended:
                lines += follower.rest()
            event = RunPolled(status, lines, results, verdict)
            if status.ended:
                self.post_message(event)  # the ending is shown at once, not at the next tick
                return
            with self._poll_lock:  # the UI tick picks this up: one render per interval
                if self._pending is not None:
                    event.lines = self._pending.lines + event.lines
                    event.results = event.results or self._pending.results
                self._pending = event
            time.sleep(max(self.interval, UI_EVERY))  # the screen shows it at most once per UI_EVERY

    def _take_pending(self) -> RunPolled | None:
        with self._poll_lock:
            event, self._pending = self._pending, None
        return event

    def _tick(self) -> None:
        if self.sampler is None:
            return
        while self._samples:
            self._record_sample(self._samples.popleft())
        s = self.sampler.latest
        if self.sampler.error and not self.error_shown:
            self.error_shown = True  # e.g. the GPU fell off the bus: say so, keep the rest going
            self.query_one("#nvml-note", Static).update(self.sampler.error)
        # Due about once per UI_EVERY, on the first tick after the run's files were polled (so the
        # progress shown is fresh); the first sample and the first poll are shown at once.
        now = time.monotonic()
        elapsed = now - self._shown_at
        first = (s is not None and self._shown_sample is None) or (self.status is None and self._pending is not None)
        polled_now = self._pending is not None and elapsed >= UI_EVERY - self.interval / 2
        if not (first or polled_now or elapsed >= UI_EVERY + self.interval / 2):
            return  # not due: nothing drawn
        self._shown_at = now
        polled = self._take_pending()
        with self.app.batch_update():
            if polled is not None and not (self.status is not None and self.status.ended):
                self._show_run(polled)
            if s is not None and s is not self._shown_sample:
                self._shown_sample = s
                self._show_sample(s)

    def _record_sample(self, s: GpuSample) -> None:
        """Every sample goes into the panels' history; nothing is drawn here."""
        for g in s.gpus:
            panel = self._gpu_panels.get(g.index)
            if panel is None:
                panel = self._gpu_panels[g.index] = GpuPanel(g.index)
                self.query_one("#gpu-panels", Vertical).mount(panel)
            panel.record(g)
        self._process_panel.record(s.processes)

    def _show_sample(self, s: GpuSample) -> None:
        if s.note and not self.note_shown:
            self.note_shown = True  # said once: the note does not change between samples
            extra = " — showing CPU and RAM of the training processes instead" if not s.gpus else ""
            self.query_one("#nvml-note", Static).update(s.note + extra)
        for panel in self._gpu_panels.values():
            panel.show()
        self._process_panel.show()
        self.nvml_run = s.processes.gpu_mem
        self._show_memory()

    @on(RunPolled)
    def show_run(self, event: RunPolled) -> None:
        with self.app.batch_update():
            earlier = self._take_pending()
            if earlier is not None:
                event.lines = earlier.lines + event.lines
            self._show_run(event)

    def _show_run(self, event: RunPolled) -> None:
        was_ended = self.status is not None and self.status.ended
        st = self.status = event.status
        if st.ended != was_ended:
            self.refresh_bindings()  # "Stop" leaves the footer once the run has ended
        p = st.progress
        self.query_one(TrainProgress).show(p, st.state)
        self.torch_reserved = (p.torch_reserved, p.torch_max_reserved)
        self._show_memory()
        if event.lines:
            self.query_one(LogTail).write_lines(event.lines)
        if event.results is not None:
            self.query_one(MetricsChart).show(*event.results)
            self.query_one(EpochTable).show(*event.results)
        if st.ended:
            self.query_one(EndingBanner).show(st, event.verdict)
            if self.sampler is not None:
                self.sampler.stop()

    def _show_memory(self) -> None:
        if self.record is None:
            return
        self.query_one("#memory-compare", MemoryCompare).show(
            self.record.predicted_reserved,
            self.record.predicted_nvidia_smi,
            *self.torch_reserved,
            self.nvml_run,
            self.record.prediction,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            # only a run that is still going can be stopped; the footer shows only keys that work
            return self.record is not None and not (self.status is not None and self.status.ended)
        return True

    def action_close(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit(0)

    def action_stop(self) -> None:
        if self.record is None or (self.status is not None and self.status.ended):
            self.notify("this run has already ended")
            return
        from yolofreeze.tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.notify("stopping: SIGINT, then SIGTERM, then SIGKILL to the training's processes")
                self.stop_worker()

        self.app.push_screen(
            ConfirmScreen(
                f"Stop run {self.run_id}? The training's processes will be "
                "interrupted; last.pt keeps the last finished epoch.",
                yes="Stop",
                no="Keep running",
            ),
            answered,
        )

    @work(thread=True, exclusive=True, group="run-stop", description="stopping the run")
    def stop_worker(self) -> None:
        assert self.record is not None
        stop_run(self.record)
