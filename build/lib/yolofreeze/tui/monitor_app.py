"""A small app that shows only the monitor screen (``yolofreeze-tui attach RUN``)."""

from __future__ import annotations

from textual.app import App

from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.screens.monitor import MonitorScreen


class MonitorApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "yolofreeze — monitor"

    def __init__(self, run_id: str, deps: AppDeps | None = None, interval: float = 0.5) -> None:
        super().__init__()
        self.run_id = run_id
        self.deps = deps or AppDeps()
        self.interval = interval

    def on_mount(self) -> None:
        self.push_screen(MonitorScreen(self.run_id, self.deps, self.interval))


def run_monitor(run_id: str, deps: AppDeps | None = None) -> int:
    return MonitorApp(run_id, deps).run() or 0
