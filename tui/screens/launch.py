"""The launch form: the same options and the same validation as ``yolofreeze-tui train``.

Problems come back one per field and are shown under that field; nothing starts until there
are none. Launching switches to the monitor of the new (detached) run.

The form starts from the main screen's settings (batch, image size, optimizer) and the defaults in
yolofreeze.core.training.options; leaving it with escape hands back a ``LaunchDraft``, so
reopening it in the same session shows what the user had typed. The prediction shown and stored
with the run is for the options that passed the checks (batch, image size, optimizer, GPUs): when
they differ from what the main screen estimated, the form estimates again before launching.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.memory.estimator import MemoryEstimate, TrainConfig
from yolofreeze.core.plan.freeze import FreezePlan
from yolofreeze.core.training.dataset import Problem
from yolofreeze.core.training.launch import LaunchOptions, Validation, launch, validate
from yolofreeze.core.training.options import DEFAULTS, OPTIMIZERS
from yolofreeze.core.training.runs import RunRecord
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.estimate_scheduler import EstimateScheduler, Estimator
from yolofreeze.tui.format import human_bytes
from yolofreeze.tui.messages import EstimateReady, EstimateUnavailable
from yolofreeze.tui.prediction import train_config, with_prediction
from yolofreeze.tui.settings import Settings
from yolofreeze.tui.widgets.path_input import MAX_SCAN, PathInput

# (field, label, default, placeholder)
TEXT_FIELDS = (
    ("data", "data YAML", "", "path/to/data.yaml (Tab completes; ctrl+d: demo)"),
    ("epochs", "epochs", str(DEFAULTS.epochs), ""),
    ("batch", "batch (total)", str(DEFAULTS.batch), ""),
    ("img", "image size", str(DEFAULTS.img), ""),
    ("device", "device", DEFAULTS.device, "empty = GPU 0 if any, else CPU; cpu; 0; 0,1 (DDP)"),
    ("workers", "dataloader workers", str(DEFAULTS.workers), ""),
    ("hyp", "hyperparameters YAML", "", "empty = yolov5's hyp.scratch-low"),
    ("project", "project folder", DEFAULTS.project, ""),
    ("name", "run name", DEFAULTS.name, ""),
    ("yolov5_dir", "yolov5 clone", "", "empty = the yolov5 pip package"),
)
INT_FIELDS = ("epochs", "batch", "img", "workers")
# Tab completes these from the file system: (folders only, file endings offered)
PATH_FIELDS = {
    "data": (False, (".yaml", ".yml")),
    "hyp": (False, (".yaml", ".yml")),
    "project": (True, ()),
    "yolov5_dir": (True, ()),
}
LABELS = {fid: label for fid, label, *_ in TEXT_FIELDS} | {
    "optimizer": "optimizer",
    "bn-eval": "BatchNorm frozen",
    "plots": "plots",
}
SETTINGS_FIELDS = ("batch", "img", "optimizer")  # what the main screen's settings fill in


@dataclass(frozen=True)
class LaunchDraft:
    """The form as the user left it, and the main screen's settings it started from."""

    values: tuple[tuple[str, str], ...]  # (field, text) for the text fields and "optimizer"
    switches: tuple[tuple[str, bool], ...]
    settings: Settings


def _start_values(settings: Settings, draft: LaunchDraft | None) -> tuple[dict[str, str], dict[str, bool]]:
    """A draft wins, except that settings changed on the main screen since the draft win over it."""
    values = {fid: default for fid, _, default, _ in TEXT_FIELDS}
    values.update(batch=str(settings.batch), img=str(settings.img), optimizer=settings.optimizer)
    switches = {"bn-eval": True, "plots": True}
    if draft is not None:
        mine = dict(draft.values)
        if draft.settings.traced_part() != settings.traced_part():
            for fid in SETTINGS_FIELDS:
                mine.pop(fid, None)
        values.update(mine)
        switches.update(draft.switches)
    return values, switches


class Validated(Message):
    def __init__(self, validation: Validation, launching: bool, options: LaunchOptions) -> None:
        super().__init__()
        self.validation, self.launching, self.options = validation, launching, options


class Launched(Message):
    def __init__(self, record: RunRecord) -> None:
        super().__init__()
        self.record = record


class LaunchFailed(Message):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


def _config(opts: LaunchOptions, v: Validation) -> TrainConfig:
    """What the estimate depends on, as train.py will run these options."""
    return train_config(opts, v)


def _config_text(config: TrainConfig) -> str:
    gpus = f"{config.gpus} GPU" + ("s" if config.gpus > 1 else "")
    return f"batch {config.batch} @ {config.img} px, {config.optimizer}, {gpus}"


class LaunchScreen(Screen[LaunchDraft | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+l", "launch", "Launch"),
        Binding("ctrl+d", "demo_data", "Demo data", priority=True),  # over Input's delete-right
    ]
    # One row per field (label, then input), so the whole form fits 80x24; a field's problem is a
    # red row under it, shown only when there is one; the result line sits above the form, in view.
    DEFAULT_CSS = """
    LaunchScreen #launch-head { height: auto; padding: 0 1; }
    LaunchScreen #launch-summary { text-style: bold; }
    LaunchScreen #launch-result { height: auto; }
    LaunchScreen #launch-result.-error { color: $error; text-style: bold; }
    LaunchScreen #launch-form { height: 1fr; padding: 0 1; }
    LaunchScreen .field-row { height: 1; }
    LaunchScreen .field-label { width: 22; height: 1; }
    LaunchScreen .field-row Input, LaunchScreen .field-row Select { width: 1fr; }
    LaunchScreen .field-row Checkbox { border: none; height: 1; padding: 0; width: 1fr; }
    LaunchScreen .field-error { display: none; color: $error; padding-left: 22; height: auto; }
    LaunchScreen .field-error.-shown { display: block; }
    LaunchScreen #path-hint { display: none; color: $text-muted; padding: 0 1; height: auto; max-height: 3; }
    LaunchScreen #path-hint.-shown { display: block; }
    LaunchScreen #launch-buttons { height: 1; margin-top: 1; }
    LaunchScreen #launch-buttons Button { margin-right: 2; }
    """

    def __init__(
        self,
        info: ModelInfo,
        plan: FreezePlan,
        deps: AppDeps,
        estimate: MemoryEstimate | None = None,
        *,
        settings: Settings | None = None,
        draft: LaunchDraft | None = None,
        estimator: Estimator | None = None,
        estimate_delay: float = 0.0,
    ) -> None:
        super().__init__()
        self.info, self.plan, self.deps, self.estimate = info, plan, deps, estimate
        self.settings = settings or Settings()
        self.start_values, self.start_switches = _start_values(self.settings, draft)
        # without an estimator (or with estimates off) a run whose options differ from the
        # estimate's is launched with no prediction rather than with a wrong one
        self.estimates = (
            EstimateScheduler(self, info, estimator, estimate_delay)
            if estimator is not None and estimate_delay >= 0
            else None
        )
        self._waiting: tuple[LaunchOptions, Validation] | None = None  # launch once the estimate answers

    def compose(self) -> ComposeResult:
        c = self.plan.counts
        with Vertical(id="launch-head"):
            yield Static(
                f"Launch training of {self.info.path}: {c.frozen_params:,} of {c.total_params:,} parameters "
                f"frozen exactly ({c.frozen_tensors} tensors)",
                id="launch-summary",
                markup=False,
            )
            yield Static(self._estimate_text(), id="launch-estimate")
            yield Static("ctrl+l checks and launches; esc keeps what you typed", id="launch-result", markup=False)
        with VerticalScroll(id="launch-form"):
            for fid, label, _default, placeholder in TEXT_FIELDS:
                default = self.start_values[fid]
                with Horizontal(classes="field-row", id=f"row-{fid}"):
                    yield Label(label, classes="field-label")
                    if fid in PATH_FIELDS:
                        dirs_only, suffixes = PATH_FIELDS[fid]
                        yield PathInput(
                            default,
                            placeholder=placeholder,
                            id=f"in-{fid}",
                            compact=True,
                            dirs_only=dirs_only,
                            suffixes=suffixes,
                        )
                    else:
                        yield Input(default, placeholder=placeholder, id=f"in-{fid}", compact=True)
                    if fid == "data":
                        yield Button("Demo data", id="demo-data", compact=True)
                yield Static("", id=f"err-{fid}", classes="field-error", markup=False)
            optimizer = self.start_values["optimizer"]
            with Horizontal(classes="field-row", id="row-optimizer"):
                yield Label("optimizer", classes="field-label")
                yield Select(
                    [(o, o) for o in OPTIMIZERS],
                    value=optimizer if optimizer in OPTIMIZERS else DEFAULTS.optimizer,
                    allow_blank=False,
                    id="in-optimizer",
                    compact=True,
                )
            yield Static("", id="err-optimizer", classes="field-error", markup=False)
            with Horizontal(classes="field-row", id="row-bn-eval"):
                yield Label(LABELS["bn-eval"], classes="field-label")
                yield Checkbox(
                    "frozen BN layers stay in eval mode (running stats fixed)",
                    value=self.start_switches["bn-eval"],
                    id="in-bn-eval",
                )
            with Horizontal(classes="field-row", id="row-plots"):
                yield Label(LABELS["plots"], classes="field-label")
                yield Checkbox(
                    "labels, confusion matrix, results.png", value=self.start_switches["plots"], id="in-plots"
                )
            with Horizontal(id="launch-buttons"):
                yield Button("Check", id="check", compact=True)
                yield Button("Launch (detached)", variant="primary", id="launch", compact=True)
        yield Static("", id="path-hint", markup=False)
        yield Footer()

    def _estimate_text(self) -> str:
        est = self.estimate
        if est is None:
            return "predicted GPU memory: no estimate yet"
        run = est.plan_run
        if run is None:
            return (
                f"predicted GPU memory per GPU: torch reserved {human_bytes(est.plan.peak_reserved)}, "
                f"nvidia-smi {human_bytes(est.plan.nvidia_smi)} (epoch 0, for {_config_text(est.config)})"
            )
        return (
            f"predicted GPU memory per GPU, whole run: nvidia-smi {human_bytes(run.nvidia_smi)} "
            f"(torch reserved {human_bytes(run.peak_reserved)}, set by {run.phase}; epoch 0 "
            f"{human_bytes(est.plan.nvidia_smi)}), for {_config_text(est.config)}"
        )

    def _show_estimate_text(self, text: str | None = None) -> None:
        self.query_one("#launch-estimate", Static).update(text or self._estimate_text())

    def _options(self) -> tuple[LaunchOptions, list[Problem]]:
        values = {fid: self.query_one(f"#in-{fid}", Input).value.strip() for fid, *_ in TEXT_FIELDS}
        problems = []
        ints: dict[str, int] = {}
        for f in INT_FIELDS:
            try:
                ints[f] = int(values[f])
            except ValueError:
                problems.append(Problem(f, f"{values[f]!r} is not a whole number"))
                ints[f] = 1
        opts = LaunchOptions(
            checkpoint=self.info.path,
            data=values["data"],
            frozen=self.plan.frozen,
            epochs=ints["epochs"],
            batch=ints["batch"],
            img=ints["img"],
            hyp=values["hyp"] or None,
            optimizer=str(self.query_one("#in-optimizer", Select).value),
            device=values["device"],
            workers=ints["workers"],
            project=values["project"] or DEFAULTS.project,
            name=values["name"],
            bn_eval=self.query_one("#in-bn-eval", Checkbox).value,
            plots=self.query_one("#in-plots", Checkbox).value,
            yolov5_dir=values["yolov5_dir"] or None,
        )
        return opts, problems

    def draft(self) -> LaunchDraft:
        values = [(fid, self.query_one(f"#in-{fid}", Input).value) for fid, *_ in TEXT_FIELDS]
        values.append(("optimizer", str(self.query_one("#in-optimizer", Select).value)))
        switches = tuple((sid, self.query_one(f"#in-{sid}", Checkbox).value) for sid in ("bn-eval", "plots"))
        return LaunchDraft(tuple(values), switches, self.settings)

    def action_back(self) -> None:
        self.dismiss(self.draft())

    def on_mount(self) -> None:
        # keyboard first: the one field every launch needs has the cursor
        self.query_one("#in-data", Input).focus()

    @on(Button.Pressed, "#demo-data")
    def action_demo_data(self) -> None:
        self.make_demo_data()

    @work(thread=True, exclusive=True, group="launch-demo-data", description="generating the demo dataset")
    def make_demo_data(self) -> None:
        from yolofreeze.core.training.dataset import demo_dataset

        path = str(demo_dataset())
        self.app.call_from_thread(self._set_demo, path)

    def _set_demo(self, path: str) -> None:
        self.query_one("#in-data", Input).value = path
        for fid, value in (("epochs", "3"), ("batch", "8"), ("img", "96"), ("workers", "2")):
            self.query_one(f"#in-{fid}", Input).value = value

    @on(Button.Pressed, "#check")
    def action_check(self) -> None:
        self.run_checks(False)

    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        self.run_checks(True)

    def run_checks(self, launching: bool) -> None:
        opts, problems = self._options()
        self.query_one("#launch-result", Static).update("checking …")
        self.check_worker(opts, problems, launching)

    @work(thread=True, exclusive=True, group="launch-check", description="checking the launch options")
    def check_worker(self, opts: LaunchOptions, early: list[Problem], launching: bool) -> None:
        try:
            v = validate(opts, info=self.info)
        except Exception as e:  # hostile file etc.: one line, on the form
            self.post_message(LaunchFailed(str(e)))
            return
        if early:
            v = replace(v, problems=tuple(early) + v.problems)
        self.post_message(Validated(v, launching, opts))

    @work(thread=True, exclusive=True, group="launch-start", description="launching the training")
    def launch_worker(self, opts: LaunchOptions, v: Validation) -> None:
        launcher = self.deps.launcher or launch
        try:
            record = launcher(opts, state=self.deps.state_dir, validation=v)
        except Exception as e:
            self.post_message(LaunchFailed(f"could not launch: {e}"))
            return
        self.post_message(Launched(record))

    def _start(self, opts: LaunchOptions, v: Validation, estimate: MemoryEstimate | None) -> None:
        """Launch, storing ``estimate`` as the run's prediction (it is for exactly these options)."""
        if estimate is not None:  # the whole run's figure: what the run's observed peak is compared with
            opts = with_prediction(opts, estimate)
        self.launch_worker(opts, v)

    def _predict(self, opts: LaunchOptions, v: Validation, launching: bool) -> None:
        """Make sure the prediction is for ``opts``; launch when asked and it is (or cannot be)."""
        config = _config(opts, v)
        if self.estimate is not None and self.estimate.config == config:
            if launching:
                self._start(opts, v, self.estimate)
            return
        if self.estimates is None:
            if self.estimate is not None:
                self._show_estimate_text(self._estimate_text() + "; not for these options")
            if launching:
                self._start(opts, v, None)  # no prediction rather than another configuration's
            return
        self._waiting = (opts, v) if launching else None
        self._show_estimate_text(f"predicted GPU memory: estimating for {_config_text(config)} …")
        self.estimates.request(self.plan.frozen, config)

    @on(EstimateReady)
    def _estimate_ready(self, message: EstimateReady) -> None:
        if self.estimates is None or not self.estimates.is_current(message.generation):
            return
        self.estimate = message.estimate
        self._show_estimate_text()
        if self._waiting is not None:
            (opts, v), self._waiting = self._waiting, None
            self._start(opts, v, message.estimate)

    @on(EstimateUnavailable)
    def _estimate_unavailable(self, message: EstimateUnavailable) -> None:
        if self.estimates is None or not self.estimates.is_current(message.generation):
            return
        self.estimate = None
        self._show_estimate_text(f"predicted GPU memory: unavailable ({message.reason})")
        if self._waiting is not None:
            (opts, v), self._waiting = self._waiting, None
            self._start(opts, v, None)

    @on(Validated)
    def show_problems(self, event: Validated) -> None:
        by_field: dict[str, list[str]] = {}
        for p in event.validation.problems:
            by_field.setdefault(p.field, []).append(p.message)
        first: str | None = None
        for err in self.query(".field-error"):
            fid = (err.id or "").removeprefix("err-")
            msgs = by_field.pop(fid, [])
            err.update("\n".join(msgs))  # type: ignore[attr-defined]
            err.set_class(bool(msgs), "-shown")
            if msgs and first is None:
                first = fid
        leftover = [m for msgs in by_field.values() for m in msgs]  # the checkpoint, the plan: no field
        v = event.validation
        result = self.query_one("#launch-result", Static)
        result.set_class(not v.ok, "-error")
        if v.ok:
            text = "all checks passed" + (f"; device {v.device}" if v.device else "")
            result.update(text + (" — launching …" if event.launching else ""))
            self._predict(event.options, v, event.launching)
            return
        named = [LABELS.get(p.field, p.field) for p in v.problems if p.field in LABELS]
        text = ("not launched: " if event.launching else "") + f"{len(v.problems)} problem(s) to fix"
        if named:
            text += " (" + ", ".join(dict.fromkeys(named)) + ": in red under each)"
        result.update(text + ("; " + "; ".join(leftover) if leftover else ""))
        if first is not None:  # the cursor goes to the first field to fix, scrolled into view
            target = self.query_one(f"#in-{first}")
            target.focus()
            self.query_one("#launch-form", VerticalScroll).scroll_to_widget(self.query_one(f"#row-{first}"))

    @on(PathInput.Completed)
    def show_candidates(self, event: PathInput.Completed) -> None:
        c = event.completion
        hint = self.query_one("#path-hint", Static)
        if c.matches == 0:
            text = "no file or folder matches" + (f" among the first {MAX_SCAN:,} entries" if c.truncated else "")
        else:
            more = f" … ({c.matches} in all)" if c.matches > len(c.candidates) else ""
            text = "  ".join(c.candidates) + more
            if c.truncated:
                text += f" (the folder has over {MAX_SCAN:,} entries: type more of the name)"
        hint.update(text)
        hint.set_class(True, "-shown")

    @on(Input.Changed)
    def hide_candidates(self, event: Input.Changed) -> None:
        if isinstance(event.input, PathInput) and event.input.has_focus:
            self.query_one("#path-hint", Static).set_class(False, "-shown")

    @on(LaunchFailed)
    def show_failure(self, event: LaunchFailed) -> None:
        result = self.query_one("#launch-result", Static)
        result.set_class(True, "-error")
        result.update(event.message)

    @on(Launched)
    def open_monitor(self, event: Launched) -> None:
        from yolofreeze.tui.screens.monitor import MonitorScreen

        self.app.switch_screen(MonitorScreen(event.record.run_id, self.deps))
