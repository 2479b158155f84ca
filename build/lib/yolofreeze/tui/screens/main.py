"""The main screen: the layer tree, the always-visible summary, and every plan edit.

The screen owns the plan and its undo history; widgets get the plan handed down and post
nothing but their own UI events. Core computes every number (counts, state bytes, exports,
the traced estimate); the estimate runs in a thread worker after a short debounce.
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from yolofreeze.core.checkpoint.tree import ModelTree, model_tree
from yolofreeze.core.errors import PlanError, YoloFreezeError
from yolofreeze.core.memory.analytic import state_bytes
from yolofreeze.core.plan.freeze import Export, FreezePlan, export, load_plan_file, preset, write_atomic, yolov5_args
from yolofreeze.tui.format import human_bytes, human_count
from yolofreeze.tui.messages import EstimateReady, EstimateUnavailable, PlanChanged
from yolofreeze.tui.widgets.hostile_banner import HostileBanner
from yolofreeze.tui.widgets.layer_tree import LayerTree
from yolofreeze.tui.widgets.summary import PENDING_FREEZE, EstimateView, PlanFigures, PlanSummary, Settings

if TYPE_CHECKING:
    from yolofreeze.core.checkpoint.reader import ModelInfo
    from yolofreeze.tui.app import YoloFreezeApp

GPU_GIB = (8, 12, 16, 24, 40, 48, 80)
IMG_SIZES = (320, 416, 512, 640, 960, 1280)
OPTIMIZERS = ("SGD", "Adam", "AdamW")


class PlanHistory:
    """Undo/redo over frozen sets; a new edit drops the redo tail."""

    def __init__(self, first: frozenset[str]) -> None:
        self.states = [first]
        self.index = 0

    def push(self, frozen: frozenset[str]) -> None:
        if frozen == self.states[self.index]:
            return
        del self.states[self.index + 1 :]
        self.states.append(frozen)
        self.index += 1

    def undo(self) -> frozenset[str] | None:
        if self.index == 0:
            return None
        self.index -= 1
        return self.states[self.index]

    def redo(self) -> frozenset[str] | None:
        if self.index + 1 >= len(self.states):
            return None
        self.index += 1
        return self.states[self.index]


class MainScreen(Screen[None]):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012  (Textual declares it so)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "preset('backbone')", "Backbone", tooltip="Freeze the backbone (yolov5 --freeze 10)"),
        Binding("n", "preset('none')", "None", show=False, tooltip="Freeze nothing"),
        Binding("a", "preset('all')", "All", show=False, tooltip="Freeze all but the Detect layer"),
        Binding("f", "first_n", "First N", show=False, tooltip="Freeze layers 0..N-1 (asks for N)"),
        Binding("u,ctrl+z", "undo", "Undo"),
        Binding("ctrl+r,ctrl+y", "redo", "Redo", show=False),
        Binding("slash", "filter", "Filter", tooltip="Filter rows by name or type"),
        Binding("escape", "clear", "Clear range/filter", show=False),
        Binding("e", "export", "Export", tooltip="Export dialog: formats, file, clipboard"),
        Binding("c", "copy", "Copy", show=False, tooltip="Copy the --freeze arguments (OSC 52)"),
        Binding("s", "save_plan", "Save", show=False, tooltip="Save the plan as a JSON plan file"),
        Binding("o", "load_plan", "Open plan", show=False, tooltip="Load a plan file (any export format)"),
        Binding("g", "cycle_gpu", "GPU mem", show=False, tooltip="Cycle the GPU memory for the fit check"),
        Binding("right_square_bracket", "cycle_batch(2)", "Batch x2", show=False),
        Binding("left_square_bracket", "cycle_batch(0.5)", "Batch /2", show=False),
        Binding("i", "cycle_img", "Image size", show=False, tooltip="Cycle the training image size"),
        Binding("p", "cycle_optimizer", "Optimizer", show=False, tooltip="Cycle SGD / Adam / AdamW"),
        Binding("t", "launch", "Train", show=False, tooltip="Launch training with this plan"),
        Binding("r", "runs", "Runs", show=False, tooltip="Recorded training runs"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_app", "Quit"),
    ]

    def __init__(self, info: ModelInfo, plan: FreezePlan, notes: tuple[str, ...] = (), width: int = 80) -> None:
        # The breakpoint class from the start: set after mount, it would restyle every widget
        # once more before the first frame.
        super().__init__(classes="-wide" if width >= 120 else "-narrow")
        self.info = info
        self.model: ModelTree = model_tree(info)
        self.plan = plan
        self.saved_frozen = plan.frozen  # what is on disk (or the starting point): quit asks when different
        self.history = PlanHistory(plan.frozen)
        self.settings = Settings()
        self.notes = notes
        self.estimate_view = EstimateView("waiting")
        self._estimate_timer: Timer | None = None
        self._sha256: str | None = None

    @property
    def yapp(self) -> YoloFreezeApp:
        from yolofreeze.tui.app import YoloFreezeApp

        assert isinstance(self.app, YoloFreezeApp)
        return self.app

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        info = self.info
        title = (
            f" {os.path.basename(info.path)}  {info.model_class.rsplit('.', 1)[-1] or info.kind}"
            f" · {human_count(info.total_params)} params · {len(info.parameters)} tensors"
            f" · {len(info.layers)} layers · {human_bytes(info.file_size)}"
        )
        yield Static(title, id="title-bar", markup=False)
        if info.hostile:
            yield HostileBanner(info.suspicious, id="hostile-banner")
        # A plain container: stacked until the -wide breakpoint says side by side.
        with Container(id="body"):
            with Vertical(id="tree-panel"):
                yield Input(placeholder="filter by name or type (enter: keep, escape: clear)", id="filter")
                yield LayerTree(self.model, self.plan, id="layer-tree")
            yield PlanSummary(self.figures(self.plan), id="summary")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        panel = self.query_one("#tree-panel")
        panel.border_title = "layers"
        panel.border_subtitle = "■ frozen  □ trainable  ◧ mixed"
        self.query_one("#summary").border_title = "plan"
        tree = self.query_one(LayerTree)
        tree.focus()
        tree.cursor_line = 0
        for note in self.notes:
            self.notify(note, severity="warning", timeout=8)
        # The first estimate imports torch; it waits until this screen has been drawn.
        self.call_after_refresh(self._schedule_estimate)

    @property
    def layer_tree(self) -> LayerTree:
        return self.query_one(LayerTree)

    @property
    def summary(self) -> PlanSummary:
        return self.query_one(PlanSummary)

    # -- figures (all from core) -------------------------------------------------------------

    def figures(self, plan: FreezePlan, freeze: Export | None = None) -> PlanFigures:
        c = plan.counts
        return PlanFigures(
            counts=c,
            sgd=(
                state_bytes(c.total_params, c.trainable_params, "SGD"),
                state_bytes(c.total_params, c.total_params, "SGD"),
            ),
            adam=(
                state_bytes(c.total_params, c.trainable_params, "Adam"),
                state_bytes(c.total_params, c.total_params, "Adam"),
            ),
            freeze=yolov5_args(plan) if freeze is None else freeze,
            settings=self.settings,
        )

    # -- plan edits --------------------------------------------------------------------------

    def set_plan(self, plan: FreezePlan, changed: list[str] | None = None, record: bool = True) -> None:
        """Apply a plan: repaint the affected rows and the instant figures in this frame, then
        (debounced) the traced estimate."""
        if record:
            self.history.push(plan.frozen)
        self.plan = plan
        self.layer_tree.show_plan(plan, changed)
        self.summary.show(self.figures(plan, freeze=PENDING_FREEZE))
        self.call_after_refresh(self._show_freeze_args, plan)
        self.post_message(PlanChanged(plan))
        self._schedule_estimate()

    def _show_freeze_args(self, plan: FreezePlan) -> None:
        if plan is self.plan:  # a newer edit schedules its own
            self.summary.show(self.figures(plan))

    def action_toggle_freeze(self) -> None:
        tree = self.layer_tree
        keys = tree.range_keys()
        names = self.model.parameters_of(keys)
        if not names:
            self.notify("Nothing to freeze here: this row has no parameters.", severity="warning")
            return
        self.set_plan(self.plan.toggle(names), changed=keys)
        tree.clear_range()

    def action_preset(self, spec: str) -> None:
        try:
            plan = preset(self.info, spec)
        except PlanError as e:
            self.notify(e.message, severity="error")
            return
        self.set_plan(plan)  # no toast: it would cover the summary that shows the result

    def action_first_n(self) -> None:
        from yolofreeze.tui.screens.prompt import PromptScreen

        top = self.info.layers[-1].index + 1 if self.info.layers else 0

        def check(text: str) -> str | None:
            if not text.strip().isdigit():
                return "a whole number, please"
            if int(text) > top:
                return f"this model has {top} layers (0-{top - 1})"
            return None

        def apply(answer: str | None) -> None:
            if answer is not None:
                self.action_preset(f"first:{int(answer)}")

        default = str(self.info.backbone_layers or 10)
        self.app.push_screen(PromptScreen(f"Freeze the first N layers (0-{top}):", default, check=check), apply)

    def action_undo(self) -> None:
        frozen = self.history.undo()
        if frozen is None:
            self.notify("Nothing to undo", timeout=2)
            return
        self.set_plan(FreezePlan(self.info, frozen), record=False)

    def action_redo(self) -> None:
        frozen = self.history.redo()
        if frozen is None:
            self.notify("Nothing to redo", timeout=2)
            return
        self.set_plan(FreezePlan(self.info, frozen), record=False)

    # -- filter ------------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-active")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        query = event.value.strip()
        self.layer_tree.populate(self.model.matching(query) if query else None, expand=bool(query))
        self.layer_tree.cursor_line = 0

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.layer_tree.focus()
        if not event.value.strip():
            event.input.remove_class("-active")

    def action_clear(self) -> None:
        if self.layer_tree.clear_range():
            return
        box = self.query_one("#filter", Input)
        if box.has_class("-active") or box.value:
            box.value = ""
            box.remove_class("-active")
            self.layer_tree.populate()
            self.layer_tree.cursor_line = 0
            self.layer_tree.focus()

    # -- settings ----------------------------------------------------------------------------

    def _set_settings(self, settings: Settings, traced: bool = True) -> None:
        self.settings = settings
        self.summary.show(self.figures(self.plan, freeze=self.summary.figures.freeze))
        if traced:
            self._schedule_estimate()

    def action_cycle_gpu(self) -> None:
        i = GPU_GIB.index(self.settings.gpu_gib) if self.settings.gpu_gib in GPU_GIB else -1
        self._set_settings(
            Settings(
                self.settings.batch,
                self.settings.img,
                self.settings.optimizer,
                GPU_GIB[(i + 1) % len(GPU_GIB)],
            ),
            traced=False,
        )

    def action_cycle_batch(self, factor: float = 2) -> None:
        batch = max(1, min(1024, int(self.settings.batch * factor)))
        self._set_settings(Settings(batch, self.settings.img, self.settings.optimizer, self.settings.gpu_gib))

    def action_cycle_img(self) -> None:
        i = IMG_SIZES.index(self.settings.img) if self.settings.img in IMG_SIZES else -1
        self._set_settings(
            Settings(
                self.settings.batch,
                IMG_SIZES[(i + 1) % len(IMG_SIZES)],
                self.settings.optimizer,
                self.settings.gpu_gib,
            )
        )

    def action_cycle_optimizer(self) -> None:
        i = OPTIMIZERS.index(self.settings.optimizer)
        self._set_settings(
            Settings(
                self.settings.batch,
                self.settings.img,
                OPTIMIZERS[(i + 1) % len(OPTIMIZERS)],
                self.settings.gpu_gib,
            )
        )

    # -- traced estimate ---------------------------------------------------------------------

    def _schedule_estimate(self) -> None:
        if self._estimate_timer is not None:
            self._estimate_timer.stop()
        delay = self.yapp.estimate_delay
        if delay < 0:  # estimates switched off (tests that must not import torch)
            return
        self.estimate_view = EstimateView("estimating", self.estimate_view.estimate)
        self.summary.show(estimate=self.estimate_view)
        self._estimate_timer = self.set_timer(max(delay, 0.01), self._start_estimate)

    def _start_estimate(self) -> None:
        s = self.settings
        # App-level workers: the app's one Worker.StateChanged handler sees every failure.
        self.app.run_worker(
            partial(self._estimate, self.plan.frozen, (s.batch, s.img, s.optimizer)),
            thread=True,
            exclusive=True,
            group="estimate",
            exit_on_error=False,
            description="memory estimate",
        )

    def _estimate(self, frozen: frozenset[str], setting: tuple[int, int, str]) -> None:
        worker = get_current_worker()
        started = time.perf_counter()
        try:
            from yolofreeze.core.memory.estimator import EstimateCancelled, TrainConfig
        except ImportError as e:
            self.post_message(EstimateUnavailable(frozen, f"estimator not installed ({e.name or e})"))
            return
        config = TrainConfig(batch=setting[0], img=setting[1], optimizer=setting[2])
        try:
            result = self.yapp.estimator(self.info, frozen, config, lambda: worker.is_cancelled)
        except EstimateCancelled:
            return
        except NotImplementedError:
            self.post_message(EstimateUnavailable(frozen, "the traced estimator is not finished yet"))
            return
        except YoloFreezeError as e:
            self.post_message(EstimateUnavailable(frozen, e.message))
            return
        if not worker.is_cancelled:
            self.post_message(EstimateReady(frozen, config, result, time.perf_counter() - started))

    @on(EstimateReady)
    def _estimate_ready(self, message: EstimateReady) -> None:
        s = self.settings
        current = (s.batch, s.img, s.optimizer)
        if (
            message.frozen != self.plan.frozen
            or (message.config.batch, message.config.img, message.config.optimizer) != current
        ):
            return  # a newer estimate is on its way
        self.estimate_view = EstimateView("ready", message.estimate, seconds=message.seconds)
        self.summary.show(estimate=self.estimate_view)

    @on(EstimateUnavailable)
    def _estimate_unavailable(self, message: EstimateUnavailable) -> None:
        self.estimate_view = EstimateView("unavailable", None, message.reason)
        self.summary.show(estimate=self.estimate_view)

    # -- export, clipboard, plan files -------------------------------------------------------

    def default_plan_path(self) -> str:
        stem = os.path.splitext(self.info.path)[0]
        return f"{stem}.freeze.json"

    def checkpoint_sha256(self) -> str:
        """Hash of the checkpoint for plan files; computed once, in whichever worker asks first."""
        if self._sha256 is None:
            self._sha256 = self.info.sha256()
        return self._sha256

    def action_export(self) -> None:
        from yolofreeze.tui.screens.export import ExportScreen

        self.app.push_screen(
            ExportScreen(self.plan, self.checkpoint_sha256, self.default_plan_path()), self._export_closed
        )

    def _export_closed(self, written: str | None) -> None:
        if written:  # the plan is on disk in some format: quitting loses nothing
            self.saved_frozen = self.plan.frozen

    def action_copy(self) -> None:
        result = export(self.plan, "yolov5")
        if not result.text:
            result = export(self.plan, "python")
            self.notify("--freeze cannot carry this plan; copied the python prefix list instead", severity="warning")
        self.app.copy_to_clipboard(result.text.strip())
        self.notify(f"Copied to clipboard: {result.text.strip()[:60]}", timeout=3)

    def action_save_plan(self) -> None:
        from yolofreeze.tui.screens.prompt import PromptScreen

        def chosen(path: str | None) -> None:
            if path:
                self.app.run_worker(
                    partial(self._save_plan, self.plan, os.path.expanduser(path.strip())),
                    thread=True,
                    exclusive=True,
                    group="save",
                    exit_on_error=False,
                    description="saving the plan",
                )

        self.app.push_screen(PromptScreen("Save the plan (JSON) to:", self.default_plan_path()), chosen)

    def _save_plan(self, plan: FreezePlan, path: str) -> None:
        try:
            write_atomic(path, export(plan, "json", self.checkpoint_sha256()).text)
        except OSError as e:
            self.app.call_from_thread(self.notify, f"Cannot write {path}: {e.strerror or e}", severity="error")
            return
        self.app.call_from_thread(self._saved, plan, path)

    def _saved(self, plan: FreezePlan, path: str) -> None:
        self.saved_frozen = plan.frozen
        self.notify(f"Plan saved to {path}", timeout=3)

    def action_load_plan(self) -> None:
        from yolofreeze.tui.screens.prompt import PromptScreen

        def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                imported = load_plan_file(self.info, os.path.expanduser(path.strip()))
            except PlanError as e:
                self.notify(e.message, severity="error")
                return
            self.set_plan(imported.plan)
            self.saved_frozen = imported.plan.frozen
            for w in imported.warnings:
                self.notify(w, severity="warning")
            self.notify(f"Loaded {path}: {human_count(imported.plan.counts.frozen_params)} frozen", timeout=3)

        self.app.push_screen(
            PromptScreen("Load a plan file (json, names, python, --freeze …):", self.default_plan_path()),
            chosen,
        )

    # -- other screens -----------------------------------------------------------------------

    def action_help(self) -> None:
        from yolofreeze.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_launch(self) -> None:
        if self.info.hostile:
            self.notify(
                f"Training refused: this file references {', '.join(self.info.suspicious[:3])}.",
                severity="error",
                title="Hostile checkpoint",
            )
            return
        try:
            from yolofreeze.tui.screens.launch import LaunchScreen  # type: ignore[import-not-found,unused-ignore]
        except ImportError as e:
            self.notify(f"Training launch is not available in this build ({e})", severity="warning")
            return
        self.app.push_screen(LaunchScreen(self.info, self.plan, self.yapp.deps, self.estimate_view.estimate))

    def action_runs(self) -> None:
        try:
            from yolofreeze.tui.screens.runs import RunsScreen  # type: ignore[import-not-found,unused-ignore]
        except ImportError as e:
            self.notify(f"The runs list is not available in this build ({e})", severity="warning")
            return
        self.app.push_screen(RunsScreen(self.yapp.deps))

    def action_quit_app(self) -> None:
        if self.plan.frozen == self.saved_frozen:
            self.app.exit(0)
            return
        from yolofreeze.tui.screens.confirm import ConfirmScreen

        def answer(quit_: bool | None) -> None:
            if quit_:
                self.app.exit(0)

        self.app.push_screen(ConfirmScreen("The plan has unsaved changes. Quit anyway?", "Quit", "Stay"), answer)
