"""A plan saved on yolov5s, opened on yolov5m with `o`: the backbone frozen by layer, said in a toast."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.tui.tui_support import fake_estimator, wait_for, wait_until
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.plan.freeze import export, preset, yolov5_args
from yolofreeze.tui.app import make_app
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.screens.main import MainScreen
from yolofreeze.tui.screens.prompt import PromptScreen


async def test_yolov5s_plan_opened_on_yolov5m_applies_by_layer(yolov5s: Path, large_checkpoint, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan_file = tmp_path / "backbone.json"
    plan_file.write_text(export(preset(read_checkpoint(yolov5s), "backbone"), "json", "0" * 64).text)
    medium = large_checkpoint("yolov5m.pt")
    app = make_app(medium, AppDeps(gpu_memory=lambda: None), estimator=fake_estimator(), estimate_delay=0.01)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen), "the open-plan prompt")
        app.screen.query_one("#prompt-input", Input).value = str(plan_file)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.plan.frozen, "the plan applied")
        assert screen.plan.frozen == preset(screen.info, "backbone").frozen  # 141/243 tensors, not 99
        assert yolov5_args(screen.plan).text == "--freeze 10"
        messages = [n.message for n in app._notifications]
        assert "applied by layer: model.0.-model.9. (from yolov5s.pt); 0 names unmatched" in messages
