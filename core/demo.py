"""The built-in demo checkpoint: yolov5s from the yolov5 package's own YAML, nothing downloaded.

It is built once into the user cache dir by a child process
(``python -m yolofreeze.core.training.child.build``), so the process that shows the first screen
never imports torch; see that module for what the file holds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from yolofreeze.core.errors import CheckpointError
from yolofreeze.core.paths import cache_dir

DEMO_MODEL = "yolov5s"
BUILDER = "yolofreeze.core.training.child.build"
# importing torch and yolov5 and building yolov5s takes ~10 s; a loaded machine may take several times that
BUILD_TIMEOUT_S = 600.0


def demo_checkpoint_path() -> Path:
    return cache_dir() / f"demo-{DEMO_MODEL}.pt"


def demo_checkpoint(timeout: float = BUILD_TIMEOUT_S) -> Path:
    """The demo checkpoint, built once into the user cache dir. Raises CheckpointError if it cannot be built."""
    path = demo_checkpoint_path()
    if not path.is_file():
        build_in_child(DEMO_MODEL, path, timeout)
    return path


def build_in_child(model: str, path: Path, timeout: float = BUILD_TIMEOUT_S) -> None:
    """Build ``model`` into ``path`` with this interpreter (the same venv) in a child process."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", BUILDER, model, str(path)],
            stdin=subprocess.DEVNULL,
            capture_output=True,  # stdout too: yolov5's chatter must never reach ours (inspect --json)
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise CheckpointError(f"{path}: building the demo checkpoint took over {timeout:.0f} s; gave up") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot start the demo checkpoint builder ({e.strerror or e})") from None
    if done.returncode != 0 or not path.is_file():
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        why = lines[-1][:300] if lines else f"the builder exited with code {done.returncode}"
        raise CheckpointError(f"{path}: cannot build the demo checkpoint: {why}")
