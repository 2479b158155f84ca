"""The Textual app: a factory, the checkpoint-loading worker, and the one worker-failure handler.

Screens live in ``tui/screens``; this file only wires them: loading → main or error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from yolofreeze.core.errors import EXIT_UNREADABLE, YoloFreezeError
from yolofreeze.core.plan.freeze import FreezePlan, load_plan_file
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.estimate_process import ProcessEstimator
from yolofreeze.tui.messages import CheckpointFailed, CheckpointLoaded

if TYPE_CHECKING:
    from yolofreeze.core.checkpoint.reader import ModelInfo
    from yolofreeze.core.memory.estimator import MemoryEstimate, TrainConfig

Estimator = Callable[["ModelInfo", frozenset[str], "TrainConfig", Callable[[], bool]], "MemoryEstimate"]


def traced_estimate(
    info: ModelInfo, frozen: frozenset[str], config: TrainConfig, cancelled: Callable[[], bool]
) -> MemoryEstimate:
    # Imported here: the estimator pulls in torch, which must never delay the first screen.
    from yolofreeze.core.memory.estimator import estimate_memory

    return estimate_memory(info, frozen, config, cancelled=cancelled)


class YoloFreezeApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "yolofreeze"
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
        # and freeze the screen); ``traced_estimate`` runs it in-process for benches and scripts.
        self._process_estimator: ProcessEstimator | None = None
        if estimator is None:
            self._process_estimator = ProcessEstimator()
            estimator = self._process_estimator
        self.estimator: Estimator = estimator
        self.estimate_delay = estimate_delay  # debounce after edits; negative switches estimates off
        self._loading_timer: Timer | None = None
        self._quit_asked: Screen[Any] | None = None  # the "unsaved changes" question ctrl+c put up

    def action_interrupt(self) -> None:
        """ctrl+c: quit, asking first when the plan has unsaved changes; a second ctrl+c means it.

        Never stops a training run: a launched run is detached and keeps going.
        """
        from yolofreeze.tui.screens.confirm import ConfirmScreen
        from yolofreeze.tui.screens.main import MainScreen

        main = next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)
        if main is None or main.plan.frozen == main.saved_frozen:
            self.exit(0)
            return
        if self._quit_asked is not None and self.screen is self._quit_asked:
            self.exit(0)
            return
        main.action_quit_app()
        self._quit_asked = self.screen if isinstance(self.screen, ConfirmScreen) else None

    def on_mount(self) -> None:
        from yolofreeze.tui.screens.loading import LoadingScreen

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

    @on(CheckpointLoaded)
    def _loaded(self, message: CheckpointLoaded) -> None:
        from yolofreeze.tui.screens.main import MainScreen

        screen = MainScreen(message.info, message.plan, message.notes, width=self.size.width)
        if self._loading_timer is not None:
            self._loading_timer.stop()
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    @on(CheckpointFailed)
    def _failed(self, message: CheckpointFailed) -> None:
        from yolofreeze.tui.screens.error import ErrorScreen

        screen = ErrorScreen(message.path, message.message)
        if self._loading_timer is not None:
            self._loading_timer.stop()
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Workers that raise are bugs; say so on screen instead of dying mid-session."""
        worker = event.worker
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        if worker.group == "load":
            self._failed(CheckpointFailed(self.path or "", f"Reading failed unexpectedly: {error!r}"))
            return
        self.notify(f"{worker.description or worker.name} failed: {error!r}", severity="error", timeout=10)
        if worker.group == "estimate":
            from yolofreeze.tui.messages import EstimateUnavailable
            from yolofreeze.tui.screens.main import MainScreen

            if isinstance(self.screen, MainScreen):
                self.screen.post_message(EstimateUnavailable(frozenset(), f"estimator error: {error!r}"))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        from yolofreeze.tui.screens.main import MainScreen

        if not isinstance(screen, MainScreen):
            return
        for title, help_, action in (
            ("Preset: freeze nothing", "Every parameter trainable", "preset('none')"),
            (
                "Preset: freeze the backbone",
                "Layers of the YAML's backbone (--freeze 10 on P5)",
                "preset('backbone')",
            ),
            ("Preset: freeze all but Detect", "Only the output layer trains", "preset('all')"),
            ("Preset: freeze the first N layers", "Asks for N", "first_n"),
            ("Export the plan", "Formats, file path, clipboard", "export"),
            ("Copy --freeze arguments", "To the clipboard (OSC 52, works over SSH)", "copy"),
            ("Save the plan", "JSON plan file", "save_plan"),
            ("Load a plan file", "Any export format", "load_plan"),
            ("Undo", "Previous plan", "undo"),
            ("Redo", "Next plan", "redo"),
            ("Filter rows", "By name or type", "filter"),
            ("Cycle GPU memory", "For the fits / does not fit check", "cycle_gpu"),
            ("Cycle image size", "Training --img", "cycle_img"),
            ("Cycle optimizer", "SGD / Adam / AdamW", "cycle_optimizer"),
            ("Double the batch", "Training --batch-size", "cycle_batch(2)"),
            ("Halve the batch", "Training --batch-size", "cycle_batch(0.5)"),
            ("Launch training", "With this plan", "launch"),
            ("Training runs", "Recorded runs", "runs"),
            ("Keys", "Every binding", "help"),
        ):
            yield SystemCommand(title, help_, _runner(screen, action))


def _runner(screen: Screen[Any], action: str) -> Callable[[], Any]:
    async def run() -> None:
        await screen.run_action(action)

    return run


def make_app(
    path: str | Path | None,
    deps: AppDeps | None = None,
    plan_file: str | Path | None = None,
    estimator: Estimator = traced_estimate,
    estimate_delay: float = 0.3,
) -> YoloFreezeApp:
    """Build the app; tests inject a reader, a fake estimator or ``estimate_delay=-1``."""
    return YoloFreezeApp(
        str(path) if path is not None else None,
        deps or AppDeps(),
        str(plan_file) if plan_file is not None else None,
        estimator=estimator,
        estimate_delay=estimate_delay,
    )


__all__ = ["EXIT_UNREADABLE", "YoloFreezeApp", "make_app", "traced_estimate"]
