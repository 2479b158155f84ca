"""A small app that shows only the monitor screen (``yolofreeze-tui attach RUN``).

The monitor is the app's default screen, so esc or q on it leaves the app (there is nothing to go
back to) and ctrl+c quits at once; neither stops the run, which keeps training detached.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.screens.monitor import MonitorScreen


class MonitorApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "yolofreeze — monitor"
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: Textual's own ctrl+c only says "press ctrl+q"
        Binding("ctrl+c", "quit", "Quit (training keeps running)", show=False, priority=True),
    ]

    def __init__(self, run_id: str, deps: AppDeps | None = None, interval: float = 0.5) -> None:
        super().__init__()
        self.run_id = run_id
        self.deps = deps or AppDeps()
        self.interval = interval

    def get_default_screen(self) -> MonitorScreen:
        return MonitorScreen(self.run_id, self.deps, self.interval)


def run_monitor(run_id: str, deps: AppDeps | None = None) -> int:
    return MonitorApp(run_id, deps).run() or 0
