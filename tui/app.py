"""The Textual app: a factory, the checkpoint-loading worker, and the one worker-failure handler.

Screens live in ``tui/screens`` and get their services through their constructors; this file only
wires them: loading → main or error. The traced estimate runs in a child process
(``ProcessEstimator``) unless the factory is handed another estimator.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from yolofreeze.core.errors import EXIT_UNREADABLE, YoloFreezeError
from yolofreeze.core.plan.freeze import FreezePlan, load_plan_file
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.estimate_process import ProcessEstimator
from yolofreeze.tui.estimate_scheduler import Estimator
from yolofreeze.tui.messages import CheckpointFailed, CheckpointLoaded
from yolofreeze.tui.screens.confirm import QuitScreen
from yolofreeze.tui.screens.error import ErrorScreen
from yolofreeze.tui.screens.loading import LoadingScreen
from yolofreeze.tui.screens.main import MainScreen

if TYPE_CHECKING:
    from yolofreeze.core.checkpoint.reader import ModelInfo
    from yolofreeze.core.memory.estimator import MemoryEstimate, TrainConfig


def traced_estimate(
    info: ModelInfo, frozen: frozenset[str], config: TrainConfig, cancelled: Callable[[], bool]
) -> MemoryEstimate:
    """The traced estimate in this process (torch imported here): for benches and scripts, never
    the shipped app, whose event loop it would stall for seconds."""
    from yolofreeze.core.memory.estimator import estimate_memory

    return estimate_memory(info, frozen, config, cancelled=cancelled)


class YoloFreezeApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "yolofreeze"
    HELP_SECTION = "App"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit at once (no question)", show=False),
        # priority: from every screen and widget (Textual's own ctrl+c only says "press ctrl+q")
        Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        path: str | None,
        deps: AppDeps,
        plan_file: str | None = None,
        estimator: Estimator | None = None,
        estimate_delay: float = 0.3,
    ) -> None:
        super().__init__()
        self.path = path
        self.deps = deps
        self.plan_file = plan_file
        # Default: the traced estimate in a child process (tracing in a thread would hold the GIL
        # and freeze the screen, and torch would be imported here).
        self._process_estimator: ProcessEstimator | None = None
        if estimator is None:
            self._process_estimator = ProcessEstimator()
            estimator = self._process_estimator
        self.estimator: Estimator = estimator
        self.estimate_delay = estimate_delay  # debounce after edits; negative switches estimates off
        self._loading_timer: Timer | None = None
        self._main: MainScreen | None = None  # the one main screen, once the checkpoint is read
        self._quit_asked: Screen[Any] | None = None  # the "unsaved changes" question ctrl+c put up

    def action_interrupt(self) -> None:
        """ctrl+c: quit, asking first when the plan has unsaved changes; a second ctrl+c means it.

        Never stops a training run: a launched run is detached and keeps going.
        """
        main = self._main
        if main is None or not main.session.unsaved:
            self.exit(0)
            return
        if self._quit_asked is not None and self.screen is self._quit_asked:
            self.exit(0)
            return
        main.action_quit_app()
        self._quit_asked = self.screen if isinstance(self.screen, QuitScreen) else None

    def on_mount(self) -> None:
        if self.path is None:
            self._failed(CheckpointFailed("", "No checkpoint given: yolofreeze-tui PATH (or --demo)."))
            return
        # Most files read in well under 0.1 s: the loading screen appears only for slower ones,
        # so a quick open draws the main screen first.
        path = self.path
        self._loading_timer = self.set_timer(0.1, lambda: self.push_screen(LoadingScreen(path)))
        self._load(self.path, self.plan_file)

    def on_unmount(self) -> None:
        if self._process_estimator is not None:
            self._process_estimator.close()

    @work(thread=True, exclusive=True, group="load", exit_on_error=False, description="reading the checkpoint")
    def _load(self, path: str, plan_file: str | None) -> None:
        try:
            info = self.deps.read_checkpoint(path)
        except YoloFreezeError as e:
            self.post_message(CheckpointFailed(path, e.message))
            return
        plan = FreezePlan(info)
        notes: list[str] = []
        if plan_file:
            try:
                imported = load_plan_file(info, plan_file)
            except YoloFreezeError as e:
                notes.append(f"Plan not applied: {e.message}")
            else:
                plan = imported.plan
                notes.extend(imported.warnings)
        self.post_message(CheckpointLoaded(info, plan, tuple(notes)))

    def _show(self, screen: Screen[Any]) -> None:
        if self._loading_timer is not None:
            self._loading_timer.stop()
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    @on(CheckpointLoaded)
    def _loaded(self, message: CheckpointLoaded) -> None:
        self._main = MainScreen(
            message.info,
            message.plan,
            estimator=self.estimator,
            estimate_delay=self.estimate_delay,
            deps=self.deps,
            notes=message.notes,
            width=self.size.width,
        )
        self._show(self._main)

    @on(CheckpointFailed)
    def _failed(self, message: CheckpointFailed) -> None:
        self._show(ErrorScreen(message.path, message.message))

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Workers that raise are bugs; say so on screen instead of dying mid-session."""
        worker = event.worker
        if event.state != WorkerState.ERROR:
            return
        if worker.group == "load":
            self._failed(CheckpointFailed(self.path or "", f"Reading failed unexpectedly: {worker.error!r}"))
            return
        self.notify(f"{worker.description or worker.name} failed: {worker.error!r}", severity="error", timeout=10)


def make_app(
    path: str | Path | None,
    deps: AppDeps | None = None,
    plan_file: str | Path | None = None,
    estimator: Estimator | None = None,
    estimate_delay: float = 0.3,
) -> YoloFreezeApp:
    """Build the app; the estimate runs in a child process unless tests inject a fake estimator
    (or ``estimate_delay=-1``: no estimates)."""
    return YoloFreezeApp(
        str(path) if path is not None else None,
        deps or AppDeps(),
        str(plan_file) if plan_file is not None else None,
        estimator=estimator,
        estimate_delay=estimate_delay,
    )


__all__ = ["EXIT_UNREADABLE", "YoloFreezeApp", "make_app", "traced_estimate"]
