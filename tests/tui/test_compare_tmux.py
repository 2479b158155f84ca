"""``compare … --tui`` in a real terminal (tmux) at 80x24 and 120x40: table, curves, keys, exit."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.test_compare import exp_folder
from tests.e2e.test_tmux import TMUX, Pane, program, wait_status

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


@pytest.fixture
def pane() -> Iterator[Pane]:
    p = Pane(f"yfc-{uuid.uuid4().hex[:8]}")
    yield p
    subprocess.run([TMUX or "tmux", "kill-session", "-t", p.name], capture_output=True, check=False)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_compare_tui_shows_the_plans_and_curves_and_quits(tmp_path: Path, pane: Pane, size: tuple[int, int]) -> None:
    root = tmp_path / "runs" / "train"
    exp_folder(root, "exp", [0], [0.1, 0.3, 0.5], loss=0.08)
    exp_folder(root, "exp2", [10], [0.05, 0.2, 0.4], loss=0.09)
    status = tmp_path / "status"
    cmd = f"{program()} compare {root} --tui; echo $? > {status}"
    env = {"TERM": "xterm-256color", "YOLOFREEZE_STATE_DIR": str(tmp_path / "state")}
    subprocess.run(
        [TMUX or "tmux", "new-session", "-d", "-s", pane.name, "-x", str(size[0]), "-y", str(size[1])]
        + [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        + [cmd],
        check=True,
        cwd=os.getcwd(),
    )
    screen = pane.wait_for("mAP50 per epoch", timeout=60)
    assert "exp (no freeze)" in screen and "exp2 (--freeze 10)" in screen
    assert "trainable params" in screen
    # markers beyond the legend's: both plans' points are on screen
    assert screen.count("\u25cf") >= 2 and screen.count("\u25a0") >= 2, screen
    pane.send("c")
    pane.wait_for("mAP50-95 per epoch")
    pane.send("q")
    assert wait_status(pane, status) == 0
