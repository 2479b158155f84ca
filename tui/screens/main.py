"""The main screen: the layer tree, the always-visible summary, and every plan edit.

The plan and its undo history live in a ``PlanSession`` (UI-free, core/plan/session.py); the
traced estimate's debounce, worker and staleness in an ``EstimateScheduler``; the training
settings in a ``Settings`` value. The screen wires keys to them and shows what they answer;
widgets get the plan handed down and post nothing but their own UI events. Its services (the
estimator, the debounce, the app's dependencies) come in through the constructor.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from yolofreeze.core.checkpoint.tree import ModelTree, model_tree
from yolofreeze.core.errors import PlanError
from yolofreeze.core.memory.analytic import state_bytes
from yolofreeze.core.memory.estimator import TrainConfig
from yolofreeze.core.plan.formats import path_for, stem_of
from yolofreeze.core.plan.freeze import (
    Export,
    FreezePlan,
    carriers,
    export,
    load_plan_file,
    write_atomic,
    yolov5_args,
)
from yolofreeze.core.plan.session import PlanSession
from yolofreeze.core.training.options import check_batch, check_img, effective_img, model_image_step, model_img
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.estimate_scheduler import EstimateScheduler, Estimator
from yolofreeze.tui.format import human_bytes, human_count, safe_text
from yolofreeze.tui.messages import EstimateReady, EstimateUnavailable, MaxBatchReady
from yolofreeze.tui.screens.confirm import QuitScreen
from yolofreeze.tui.screens.export import ExportChoice, ExportScreen
from yolofreeze.tui.screens.help import HelpScreen, binding_rows, screen_rows
from yolofreeze.tui.screens.launch import LaunchDraft, LaunchScreen
from yolofreeze.tui.screens.main_commands import PlanCommands
from yolofreeze.tui.screens.prompt import PromptScreen
from yolofreeze.tui.screens.runs import RunsScreen
from yolofreeze.tui.settings import Settings, gib_text, parse_gib
from yolofreeze.tui.widgets.hostile_banner import HostileBanner
from yolofreeze.tui.widgets.layer_tree import LayerTree
from yolofreeze.tui.widgets.summary import PENDING_FREEZE, WIDE, EstimateView, PlanFigures, PlanSummary

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from yolofreeze.core.checkpoint.reader import ModelInfo


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
        Binding("g", "set_gpu", "GPU mem", show=False, tooltip="Type the GPU memory for the fit check (GiB)"),
        Binding("B", "set_batch", "Batch", show=False, tooltip="Type the training batch size"),
        Binding("right_square_bracket", "cycle_batch(2)", "Batch x2", show=False),
        Binding("left_square_bracket", "cycle_batch(0.5)", "Batch /2", show=False),
        Binding("i", "set_img", "Image size", show=False, tooltip="Type the training image size"),
        Binding("p", "cycle_optimizer", "Optimizer", show=False, tooltip="Cycle SGD / Adam / AdamW"),
        Binding("t", "launch", "Train", show=False, tooltip="Launch training with this plan"),
        Binding("r", "runs", "Runs", show=False, tooltip="Recorded training runs"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_app", "Quit"),
    ]

    COMMANDS: ClassVar[set[type[Provider] | Any]] = {PlanCommands}
    HELP_SECTION = "Plan"

    def __init__(
        self,
        info: ModelInfo,
        plan: FreezePlan,
        *,
        estimator: Estimator,
        estimate_delay: float,
        deps: AppDeps,
        notes: tuple[str, ...] = (),
        width: int = 80,
    ) -> None:
        # The breakpoint class from the start: set after mount, it would restyle every widget
        # once more before the first frame.
        super().__init__(classes="-wide" if width >= 120 else "-narrow")
        self.info = info
        self.model: ModelTree = model_tree(info)
        self.session = PlanSession(plan)
        self.settings = Settings(img=model_img(info))  # yolov5s6 starts at 1280, not 640
        self.deps = deps
        self.notes = notes
        self.estimates = EstimateScheduler(self, info, estimator, estimate_delay)
        self.estimate_view = EstimateView("waiting")
        self.launch_draft: LaunchDraft | None = None  # the launch form as last left, this session
        self.export_choice: ExportChoice | None = None  # the export dialog as last left, this session
        self._sha256: str | None = None

    @property
    def plan(self) -> FreezePlan:
        return self.session.plan

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast on this screen quotes file content at some point (plan errors, names,
        hostile globals): escaped, and never parsed as markup."""
        super().notify(safe_text(message), title=safe_text(title), severity=severity, timeout=timeout, markup=False)

    # -- layout ------------------------------------------------------------------------------

    def title_text(self, width: int) -> str:
        """The title line with as many facts as ``width`` holds; the least needed go first."""
        info = self.info
        parts = [
            f" {os.path.basename(info.path)} ",
            info.model_class.rsplit(".", 1)[-1] or info.kind,
            f"{human_count(info.total_params)} params",
            f"{len(info.parameters)} tensors",
            f"{len(info.layers)} layers",
            human_bytes(info.file_size),
        ]
        for drop in ((), (3,), (3, 4), (1, 3, 4)):
            title = " · ".join(p for i, p in enumerate(parts) if i not in drop).replace(" · ", " ", 1)
            if len(title) <= width:
                return safe_text(title)
        return safe_text(parts[0])  # a long file name: the Static cuts it

    def compose(self) -> ComposeResult:
        info = self.info
        yield Static(self.title_text(self.app.size.width), id="title-bar", markup=False)
        if info.hostile:
            yield HostileBanner(
                info.suspicious, yaml_problems=tuple(pr.describe() for pr in info.yaml_problems), id="hostile-banner"
            )
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
        self._size_panes()
        for note in self.notes:
            self.notify(note, severity="warning", timeout=8)
        # The first estimate imports torch and NVML loads a library: both wait until this screen is drawn.
        self.call_after_refresh(self._ask_estimate)
        self.call_after_refresh(
            self.app.run_worker,
            self._find_gpu,
            thread=True,
            group="gpu-size",
            exit_on_error=False,
            description="asking NVML for the GPU size",
        )

    def on_resize(self) -> None:
        self.query_one("#title-bar", Static).update(self.title_text(self.size.width))
        self._size_panes()

    def _size_panes(self) -> None:
        """Side by side, the tree takes the width its rows need (no name cut at 120 columns) and the
        summary the rest, never less than it needs for its full breakdown."""
        panel = self.query_one("#tree-panel")
        if not self.has_class("-wide"):
            panel.styles.width = "1fr"
            return
        summary_min, summary_max = WIDE + 4, 72  # with its padding and border; wider stays empty
        wanted = max(self.layer_tree.wanted_width() + 3, self.size.width - summary_max)  # + border, scrollbar
        panel.styles.width = max(40, min(wanted, self.size.width - summary_min))

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

    def show_plan(self, plan: FreezePlan, changed: list[str] | None = None) -> None:
        """Show the session's new plan: the affected rows and the instant figures in this frame,
        then (debounced) the traced estimate."""
        self.layer_tree.show_plan(plan, changed)
        self.summary.show(self.figures(plan, freeze=PENDING_FREEZE))
        self.call_after_refresh(self._show_freeze_args, plan)
        self._ask_estimate()

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
        self.show_plan(self.session.toggle(names), changed=keys)
        tree.clear_range()

    def action_preset(self, spec: str) -> None:
        try:
            plan = self.session.preset(spec)
        except PlanError as e:
            self.notify(e.message, severity="error")
            return
        self.show_plan(plan)  # no toast: it would cover the summary that shows the result

    def action_first_n(self) -> None:
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
        plan = self.session.undo()
        if plan is None:
            self.notify("Nothing to undo", timeout=2)
            return
        self.show_plan(plan)

    def action_redo(self) -> None:
        plan = self.session.redo()
        if plan is None:
            self.notify("Nothing to redo", timeout=2)
            return
        self.show_plan(plan)

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

    def _set_settings(self, settings: Settings) -> None:
        traced = settings.traced_part() != self.settings.traced_part()
        # a new GPU size needs no new trace, but a new largest batch (replays of the cached trace)
        traced = traced or (settings.gpu_bytes != self.settings.gpu_bytes and self.estimates.max_batch is not None)
        self.settings = settings
        self.summary.show(self.figures(self.plan, freeze=self.summary.figures.freeze))
        if traced:
            self._ask_estimate()

    def _find_gpu(self) -> None:
        """NVML's answer for the GPU training would use (in a thread: NVML's first call loads a library)."""
        total = self.deps.gpu_memory()
        if total:
            self.app.call_from_thread(self._found_gpu, total)

    def _found_gpu(self, total: int) -> None:
        if self.settings.gpu_source == "assumed":  # a size the user typed meanwhile wins
            self._set_settings(self.settings.with_gpu(total / (1 << 30), "nvml"))

    def action_set_gpu(self) -> None:
        def check(text: str) -> str | None:
            got = parse_gib(text)
            return got if isinstance(got, str) else None

        def apply(answer: str | None) -> None:
            if answer is not None:
                got = parse_gib(answer)
                assert not isinstance(got, str)  # checked by the prompt
                self._set_settings(self.settings.with_gpu(got, "typed"))

        what = "assumed" if self.settings.gpu_assumed else "now"
        self.app.push_screen(
            PromptScreen(
                f"GPU memory for the fit check, in GiB ({what} {gib_text(self.settings.gpu_gib)}):",
                gib_text(self.settings.gpu_gib),
                check=check,
            ),
            apply,
        )

    def action_set_batch(self) -> None:
        def check(text: str) -> str | None:
            if not text.strip().isdigit():
                return "a whole number, please"
            return check_batch(int(text))

        def apply(answer: str | None) -> None:
            if answer is not None:
                self._set_settings(replace(self.settings, batch=int(answer)))

        self.app.push_screen(PromptScreen("Training batch size:", str(self.settings.batch), check=check), apply)

    def action_set_img(self) -> None:
        step = model_image_step(self.info)

        def check(text: str) -> str | None:
            if not text.strip().isdigit():
                return "a whole number of pixels, please"
            return check_img(int(text), step)

        def apply(answer: str | None) -> None:
            if answer is None:
                return
            img = effective_img(int(answer), step)
            self._set_settings(replace(self.settings, img=img))
            if img != int(answer):
                self.notify(f"Image size {int(answer)} → {img}: train.py trains at a multiple of {step}", timeout=5)

        self.app.push_screen(
            PromptScreen(f"Training image size (a multiple of {step}):", str(self.settings.img), check=check), apply
        )

    def action_cycle_batch(self, factor: float = 2) -> None:
        self._set_settings(self.settings.scaled_batch(factor))

    def action_cycle_optimizer(self) -> None:
        self._set_settings(self.settings.next_optimizer())

    # -- traced estimate ---------------------------------------------------------------------

    def _ask_estimate(self) -> None:
        if not self.estimates.enabled:  # switched off (tests that must not import torch)
            return
        if self.info.hostile:
            # an estimate builds the model: yolov5 would unpickle or eval() what the banner names
            self._show_estimate(EstimateView("unavailable", None, "not run for a hostile file (see the banner)"))
            return
        last = self.estimate_view
        self._show_estimate(EstimateView("estimating", last.estimate, max_batch=last.max_batch))
        s = self.settings
        config = TrainConfig(batch=s.batch, img=s.img, optimizer=s.optimizer)
        self.estimates.request(self.plan.frozen, config, gpu_bytes=s.gpu_bytes)

    def on_screen_resume(self) -> None:
        # One estimate runs at a time: one the launch form asked for may have cancelled this
        # screen's, which would then never answer.
        if self.estimate_view.state == "estimating" and not self.estimates.busy:
            self._ask_estimate()

    def _show_estimate(self, view: EstimateView) -> None:
        self.estimate_view = view
        self.summary.show(estimate=view)

    @on(EstimateReady)
    def _estimate_ready(self, message: EstimateReady) -> None:
        if self.estimates.is_current(message.generation):  # else a newer estimate is on its way
            self._show_estimate(EstimateView("ready", message.estimate, seconds=message.seconds))

    @on(MaxBatchReady)
    def _max_batch_ready(self, message: MaxBatchReady) -> None:
        if self.estimates.is_current(message.generation) and message.gpu_bytes == self.settings.gpu_bytes:
            self._show_estimate(replace(self.estimate_view, max_batch=message.max_batch))

    @on(EstimateUnavailable)
    def _estimate_unavailable(self, message: EstimateUnavailable) -> None:
        if self.estimates.is_current(message.generation):  # a cancelled plan's late failure is not news
            self._show_estimate(EstimateView("unavailable", None, message.reason))

    # -- export, clipboard, plan files -------------------------------------------------------

    def default_plan_path(self, fmt: str = "json") -> str:
        """``./<checkpoint stem>.freeze<suffix>``: in the current folder, where the user works; the
        checkpoint's own folder is often shared or read-only."""
        stem = os.path.splitext(os.path.basename(self.info.path))[0]
        return path_for(os.path.join(".", f"{stem}.freeze"), fmt)

    def checkpoint_sha256(self) -> str:
        """Hash of the checkpoint for plan files; computed once, in whichever worker asks first."""
        if self._sha256 is None:
            self._sha256 = self.info.sha256()
        return self._sha256

    def action_export(self) -> None:
        plan = self.plan
        last = self.export_choice
        fmt, path = (last.format, last.path) if last else ("yolov5", self.default_plan_path("yolov5"))
        can = carriers(plan)
        if fmt not in can:  # a mixed plan opens where it can be written, not on "cannot carry"
            fmt = can[0]
            path = path_for(stem_of(path), fmt)

        def closed(choice: ExportChoice | None) -> None:
            if choice is None:
                return
            self.export_choice = choice
            if choice.written:  # the plan is on disk in some format: quitting loses nothing
                self.session.mark_saved(plan)

        self.app.push_screen(ExportScreen(plan, self.checkpoint_sha256, path, fmt), closed)

    def action_copy(self) -> None:
        result = export(self.plan, "yolov5")
        if not result.text:
            result = export(self.plan, "python")
            self.notify("--freeze cannot carry this plan; copied the python prefix list instead", severity="warning")
        self.app.copy_to_clipboard(result.text.strip())
        self.notify(f"Copied to clipboard: {result.text.strip()[:60]}", timeout=3)

    def action_save_plan(self) -> None:
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
        self.session.mark_saved(plan)
        self.notify(f"Plan saved to {path}", timeout=3)

    def action_load_plan(self) -> None:
        def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                imported = load_plan_file(self.info, os.path.expanduser(path.strip()))
            except PlanError as e:
                self.notify(e.message, severity="error")
                return
            self.show_plan(self.session.apply(imported.plan))
            self.session.mark_saved()
            for w in imported.warnings:
                self.notify(w, severity="warning")
            self.notify(f"Loaded {path}: {human_count(imported.plan.counts.frozen_params)} frozen", timeout=3)

        self.app.push_screen(
            PromptScreen("Load a plan file (json, names, python, --freeze …):", self.default_plan_path()),
            chosen,
        )

    # -- other screens -----------------------------------------------------------------------

    def action_help(self) -> None:
        from yolofreeze.tui.screens.monitor import MonitorScreen  # loaded on demand: not on the first frame

        others = [
            *screen_rows("Export dialog (e)", ExportScreen.BINDINGS),
            *screen_rows("Launch form (t)", LaunchScreen.BINDINGS),
            *screen_rows("Runs list (r)", RunsScreen.BINDINGS),
            *screen_rows("Monitor (a run, enter)", MonitorScreen.BINDINGS),
        ]
        self.app.push_screen(HelpScreen(binding_rows(self.active_bindings), others))

    def action_launch(self) -> None:
        if self.info.hostile:
            self.notify(
                f"Training refused: this file references {', '.join(self.info.hostile_reasons[:3])}.",
                severity="error",
                title="Hostile checkpoint",
            )
            return

        def left(draft: LaunchDraft | None) -> None:
            if draft is not None:
                self.launch_draft = draft

        screen = LaunchScreen(
            self.info,
            self.plan,
            self.deps,
            self.estimate_view.estimate,
            settings=self.settings,
            draft=self.launch_draft,
            estimator=self.estimates.estimator,
            estimate_delay=self.estimates.delay,
        )
        self.app.push_screen(screen, left)

    def action_runs(self) -> None:
        self.app.push_screen(RunsScreen(self.deps))

    def action_quit_app(self) -> None:
        if not self.session.unsaved:
            self.app.exit(0)
            return

        def answer(choice: str | None) -> None:
            if choice == "quit":
                self.app.exit(0)
            elif choice == "save":
                self.app.push_screen(PromptScreen("Save the plan (JSON) to:", self.default_plan_path()), save_then_quit)

        def save_then_quit(path: str | None) -> None:
            if not path:
                return
            target = os.path.expanduser(path.strip())
            try:  # a few KiB: written here, so nothing is left half done when the app exits
                write_atomic(target, export(self.plan, "json", self.checkpoint_sha256()).text)
            except OSError as e:
                self.notify(f"Cannot write {target}: {e.strerror or e}; not quitting", severity="error")
                return
            self.session.mark_saved(self.plan)
            self.app.exit(0)

        self.app.push_screen(QuitScreen(), answer)
