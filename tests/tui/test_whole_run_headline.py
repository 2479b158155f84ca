"""The main screen's headline is the whole run's figure (what must fit), with the step-time ratio."""

from __future__ import annotations

from pathlib import Path

from tests.tui.test_app import app_for, summary_text
from tests.tui.tui_support import fake_estimator, wait_until
from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.memory.estimator import MemoryEstimate, RunPeak, StepFlops, TrainConfig
from yolofreeze.tui.widgets.summary import PlanSummary

GIB = 1 << 30


def whole_run_estimator(run_smi: int):  # type: ignore[no-untyped-def]
    """The fake's epoch-0 figures, plus a whole run whose validation needs ``run_smi`` and a
    backward that freezing shortens (FLOPs in proportion to the trainable parameters)."""
    base = fake_estimator()

    def estimate(info: ModelInfo, frozen: frozenset[str], config: TrainConfig, cancelled) -> MemoryEstimate:  # type: ignore[no-untyped-def]
        e = base(info, frozen, config, cancelled)
        trainable = sum(p.numel for p in info.parameters if p.name not in frozen) / info.total_params
        return MemoryEstimate(
            e.config, e.plan, e.baseline, e.accumulate,
            plan_flops=StepFlops(1000, int(2000 * trainable)), baseline_flops=StepFlops(1000, 2000),
            plan_run=RunPeak(e.plan.peak_allocated, run_smi - (400 << 20), run_smi, "validation"),
            baseline_run=RunPeak(e.baseline.peak_allocated, 2 * run_smi, 2 * run_smi + (400 << 20), "validation"),
        )  # fmt: skip

    return estimate


async def test_fits_is_judged_on_the_whole_run_not_epoch_0(yolov5s: Path) -> None:
    # epoch 0 alone is far below 24 GiB; the whole run (validation) needs 30 GiB: it does not fit
    app = app_for(yolov5s, estimator=whole_run_estimator(30 * GIB))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "whole run" in summary_text(app), "the whole-run headline")
        text = summary_text(app)
        assert "whole run (smi) 30.0 vs" in text and "DOES NOT FIT" in text
        summary = app.screen.query_one(PlanSummary)
        assert summary.step_text().plain == "step ≈ 1.00\u00d7 no freeze (±0%)"  # nothing frozen yet
        await pilot.press("b")  # the backbone: 57.7% of the parameters stop computing gradients
        await wait_until(pilot, lambda: "estimating" not in summary_text(app), "the backbone's estimate")
        assert summary.step_text().plain == "step ≈ 0.62\u00d7 no freeze (\u221238%)"
        rows = [strip.text for strip in app.screen._compositor.render_strips()]
        assert any("step ≈ 0.62\u00d7" in r for r in rows)  # on screen at 80x24, beside the state bytes


async def test_wide_layout_says_which_phase_sets_the_peak(yolov5s: Path) -> None:
    app = app_for(yolov5s, estimator=whole_run_estimator(5 * GIB))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, lambda: "whole run" in summary_text(app), "the whole-run headline")
        rows = " ".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "whole run set by validation; epoch 0 alone" in rows and "✓ fits" in rows
