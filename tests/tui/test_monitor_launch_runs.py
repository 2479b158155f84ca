"""The launch form (per-field problems, then a launch that opens the monitor) and the runs list."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual.app import App
from textual.widgets import DataTable, Input

from tests.tui.test_monitor import record
from tests.tui.tui_support import fake_estimator, wait_for
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.memory.estimator import TrainConfig
from yolofreeze.core.monitoring.gpu import ProcessSampler
from yolofreeze.core.plan.freeze import preset
from yolofreeze.core.training.dataset import make_dataset
from yolofreeze.core.training.runs import RunRecord, write_json_atomic
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.screens.launch import LaunchScreen
from yolofreeze.tui.screens.monitor import MonitorScreen
from yolofreeze.tui.screens.runs import RunsScreen


class Host(App[None]):
    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.first = screen

    def on_mount(self) -> None:
        self.push_screen(self.first)


async def test_launch_form_shows_problems_per_field_then_launches(yolov5n: Path, tmp_path: Path) -> None:
    info = read_checkpoint(yolov5n)
    plan = preset(info, "backbone")
    launched: list[Any] = []

    def fake_launcher(opts: Any, state: Path | None, validation: Any) -> RunRecord:
        launched.append((opts, validation))
        rec = record(tmp_path, "launched", 999999, 0.0, "done\n")
        write_json_atomic(rec.dir / "exit.json", {"returncode": 0})
        write_json_atomic(rec.dir / "status.json", {"ending": "finished"})
        return rec

    deps = AppDeps(state_dir=tmp_path, launcher=fake_launcher, gpu_sampler_factory=lambda: ProcessSampler())
    app = Host(LaunchScreen(info, plan, deps, None))
    async with app.run_test(size=(120, 60)) as pilot:
        screen = app.screen
        assert screen.query_one("#in-bn-eval").value is True  # the BN policy is on by default, and shown
        screen.query_one("#in-data", Input).value = str(tmp_path / "missing.yaml")
        screen.query_one("#in-batch", Input).value = "lots"
        screen.query_one("#in-device", Input).value = "cpu"
        await pilot.press("ctrl+l")
        await wait_for(
            pilot, lambda: "problem" in str(screen.query_one("#launch-result").render()), "the check's result"
        )
        assert "data YAML not found" in str(screen.query_one("#err-data").render())
        assert "'lots' is not a whole number" in str(screen.query_one("#err-batch").render())
        assert launched == []

        data = make_dataset(tmp_path / "ds", n_train=2, n_val=1, size=64)
        screen.query_one("#in-data", Input).value = str(data)
        screen.query_one("#in-batch", Input).value = "4"
        screen.query_one("#in-img", Input).value = "64"
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), "the monitor")
        opts, v = launched[0]
        assert opts.frozen == plan.frozen and opts.bn_eval is True and v.device == "cpu"
        assert opts.predicted_reserved is None  # no estimate for these options: none stored, not another's


async def test_the_run_stores_the_prediction_for_exactly_the_options_launched(yolov5n: Path, tmp_path: Path) -> None:
    """The main screen estimated batch 16 @ 640; the user launches batch 4 @ 64: the form estimates
    again, says for what, and the run record gets that figure."""
    info = read_checkpoint(yolov5n)
    plan = preset(info, "backbone")
    calls: list[tuple[frozenset[str], TrainConfig]] = []
    estimator = fake_estimator(calls)
    main_estimate = estimator(info, plan.frozen, TrainConfig(), lambda: False)
    launched: list[Any] = []

    def fake_launcher(opts: Any, state: Path | None, validation: Any) -> RunRecord:
        launched.append(opts)
        rec = record(tmp_path, "launched", 999999, 0.0, "done\n")
        write_json_atomic(rec.dir / "exit.json", {"returncode": 0})
        return rec

    deps = AppDeps(state_dir=tmp_path, launcher=fake_launcher, gpu_sampler_factory=lambda: ProcessSampler())
    form = LaunchScreen(info, plan, deps, main_estimate, estimator=estimator, estimate_delay=0.01)
    app = Host(form)
    async with app.run_test(size=(120, 60)) as pilot:
        assert "for batch 16 @ 640 px, SGD, 1 GPU" in str(form.query_one("#launch-estimate").render())
        form.query_one("#in-data", Input).value = str(make_dataset(tmp_path / "ds", n_train=2, n_val=1, size=64))
        form.query_one("#in-batch", Input).value = "4"
        form.query_one("#in-img", Input).value = "64"
        form.query_one("#in-device", Input).value = "cpu"
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: bool(launched), "the launch")
    wanted = TrainConfig(batch=4, img=64, optimizer="SGD", gpus=1, amp=False)  # a CPU run: train.py turns AMP off
    assert calls[-1] == (plan.frozen, wanted)
    expected = estimator(info, plan.frozen, wanted, lambda: False).plan
    assert (launched[0].predicted_reserved, launched[0].predicted_nvidia_smi) == (
        expected.peak_reserved,
        expected.nvidia_smi,
    )
    assert expected.peak_reserved != main_estimate.plan.peak_reserved


async def test_runs_screen_lists_and_opens_a_run(tmp_path: Path) -> None:
    a = record(tmp_path, "20261130-100000-old-0001", 999999, 0.0, "x\n")
    write_json_atomic(a.dir / "exit.json", {"returncode": 0})
    write_json_atomic(a.dir / "status.json", {"ending": "finished", "save_dir": "/tmp/x"})
    time.sleep(0.01)
    b = record(tmp_path, "20261130-110000-new-0002", 999999, 0.0, "Traceback\nKeyError: 'momentum'\n")
    write_json_atomic(b.dir / "exit.json", {"returncode": 1})
    deps = AppDeps(state_dir=tmp_path, gpu_sampler_factory=lambda: ProcessSampler())
    app = Host(RunsScreen(deps))
    async with app.run_test(size=(140, 30)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "both runs listed")
        # cells are plain Text (a record's strings are never markup): compare their text
        assert str(table.get_row_at(0)[0]) == b.run_id and str(table.get_row_at(0)[2]) == "crashed"
        assert str(table.get_row_at(1)[2]) == "finished"
        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), "the monitor")
        assert app.screen.run_id == b.run_id
