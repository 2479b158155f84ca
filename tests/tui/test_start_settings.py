"""The main screen starts from the checkpoint's own image size: a P6 model at 1280, not 640."""

from __future__ import annotations

from pathlib import Path

from tests.tui.test_app import app_for, main, summary_text
from tests.tui.tui_support import wait_until


async def test_a_p6_checkpoint_opens_at_1280(ckpt_dir: Path) -> None:
    app = app_for(ckpt_dir / "yolov5n6.pt")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "estimating" not in summary_text(app), "the first estimate")
        assert main(app).settings.img == 1280 and "img 1280" in summary_text(app)


async def test_a_p5_checkpoint_opens_at_640(yolov5s: Path) -> None:
    app = app_for(yolov5s)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "estimating" not in summary_text(app), "the first estimate")
        assert main(app).settings.img == 640
