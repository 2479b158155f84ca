"""The installed program in a real terminal (tmux, 80x24): open, press keys, read the pane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_for

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


def program() -> str:
    local = Path(sys.executable).parent / "yolofreeze-tui"
    found = str(local) if local.exists() else shutil.which("yolofreeze-tui")
    if found is None:
        pytest.skip("yolofreeze-tui is not installed")
    return found


class Pane:
    def __init__(self, name: str) -> None:
        self.name = name

    def capture(self) -> str:
        out = subprocess.run(
            [TMUX or "tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True, check=False
        )
        return out.stdout

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        def showing() -> str:
            screen = self.capture()
            return screen if text in screen else ""

        return wait_for(
            showing, timeout, f"{text!r} to appear", interval=0.1, detail=lambda: f"the pane shows:\n{self.capture()}"
        )

    def wait_gone(self, text: str, timeout: float = 30.0) -> None:
        wait_for(
            lambda: text not in self.capture(),
            timeout,
            f"{text!r} to go",
            interval=0.1,
            detail=lambda: f"the pane shows:\n{self.capture()}",
        )

    def send(self, *keys: str) -> None:
        subprocess.run([TMUX or "tmux", "send-keys", "-t", self.name, *keys], check=True)

    def alive(self) -> bool:
        return (
            subprocess.run(
                [TMUX or "tmux", "has-session", "-t", self.name], capture_output=True, check=False
            ).returncode
            == 0
        )


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[tuple[Pane, Path]]:
    name = f"yf-{uuid.uuid4().hex[:8]}"
    status = tmp_path / "status"
    yield Pane(name), status
    subprocess.run([TMUX or "tmux", "kill-session", "-t", name], capture_output=True, check=False)


def start(pane: Pane, status: Path, *args: str) -> None:
    # The exit status goes to a file, so the test can read it after the program quits.
    cmd = " ".join([program(), *args]) + f"; echo $? > {status}"
    env = {"TERM": "xterm-256color", "YOLOv5_VERBOSE": "False"}
    subprocess.run(
        [
            TMUX or "tmux",
            "new-session",
            "-d",
            "-s",
            pane.name,
            "-x",
            "80",
            "-y",
            "24",
            *[a for k, v in env.items() for a in ("-e", f"{k}={v}")],
            cmd,
        ],
        check=True,
        cwd=os.getcwd(),
    )


def wait_status(pane: Pane, status: Path, timeout: float = 30.0) -> int:
    def exit_status() -> str:
        return status.read_text().strip() if status.exists() else ""

    text = wait_for(
        exit_status, timeout, "the program to exit", interval=0.1, detail=lambda: f"the pane shows:\n{pane.capture()}"
    )
    return int(text)


def test_backbone_preset_changes_trainable_count(pane: tuple[Pane, Path], yolov5s: Path) -> None:
    p, status = pane
    start(p, status, str(yolov5s))
    p.wait_for("trainable 7.24M (100.0%)")
    screen = p.wait_for("q Quit")
    assert "BACKBONE layers 0-9" in screen
    p.send("b")
    p.wait_for("trainable 3.06M (42.3%)")
    screen = p.wait_for("--freeze 10")  # worked out just after the frame that shows the counts
    assert "■" in screen and "frozen" in screen  # state reads without colour
    p.send("q")
    p.wait_for("unsaved changes")
    p.send("y")
    assert wait_status(p, status) == 0


def test_toggle_undo_and_help(pane: tuple[Pane, Path], yolov5s: Path) -> None:
    p, status = pane
    start(p, status, str(yolov5s))
    p.wait_for("trainable 7.24M (100.0%)")
    p.send("Down", "Space")  # layer 0
    p.wait_for("trainable 7.24M (100.0%)".replace("7.24M (100.0%)", "7.23M (100.0%)"))
    p.send("u")
    p.wait_for("trainable 7.24M (100.0%)")
    p.send("?")
    p.wait_for("Part of this row is frozen")  # the legend first, then every screen's keys
    p.send("End")
    p.wait_for("Back (training keeps running)")  # the monitor's keys, the last section
    p.send("Escape")  # alone: escape then q at once would reach the app as alt+q
    p.wait_gone("Help  (escape closes")
    p.send("q")
    assert wait_status(p, status) == 0


def test_unreadable_file_exits_1(pane: tuple[Pane, Path], tmp_path: Path) -> None:
    p, status = pane
    bad = tmp_path / "broken.pt"
    bad.write_text("not a checkpoint")
    start(p, status, str(bad))
    p.wait_for("Cannot open this checkpoint")
    p.send("q")
    assert wait_status(p, status) == 1
