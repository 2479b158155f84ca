"""Shared fixtures: real checkpoints written by tests/make_checkpoints.py, cached between runs.

The cache key is the source of the generator and of the builder it calls, so editing either rebuilds the files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yolofreeze.core.thirdparty import quiet_env

# Tests import yolov5 directly too (and their subprocesses inherit this): ultralytics' banner and
# settings file go to our cache dir, never the developer's ~/.config.
quiet_env()

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "tests" / "make_checkpoints.py"
BUILDER = ROOT / "core" / "training" / "child" / "build.py"  # the generator builds its models with it


def _cache_dir() -> Path:
    key = hashlib.sha256(GENERATOR.read_bytes() + BUILDER.read_bytes()).hexdigest()[:12]
    return ROOT / ".cache" / f"test-checkpoints-{key}"


@pytest.fixture(scope="session")
def ckpt_dir() -> Path:
    """Folder with every small checkpoint the generator makes (yolov5s/n/n6, clone, legacy, …)."""
    out = _cache_dir()
    done = out / ".complete"
    if not done.exists():
        env = dict(os.environ, PYTHONWARNINGS="ignore", YOLOv5_VERBOSE="False")
        subprocess.run(
            [sys.executable, str(GENERATOR), str(out)], check=True, env=env, stdout=subprocess.DEVNULL, cwd=ROOT
        )
        done.touch()
    return out


@pytest.fixture(scope="session")
def yolov5s(ckpt_dir: Path) -> Path:
    return ckpt_dir / "yolov5s.pt"


@pytest.fixture(scope="session")
def yolov5n(ckpt_dir: Path) -> Path:
    return ckpt_dir / "yolov5n.pt"


@pytest.fixture(scope="session")
def large_checkpoint(ckpt_dir: Path):  # type: ignore[no-untyped-def]
    """Builds yolov5m.pt / yolov5x.pt on demand (slow; for the few tests that need the size)."""

    def build(name: str) -> Path:
        path = ckpt_dir / name
        if not path.exists():
            subprocess.run(
                [sys.executable, str(GENERATOR), str(ckpt_dir), name], check=True, stdout=subprocess.DEVNULL, cwd=ROOT
            )
        return path

    return build
