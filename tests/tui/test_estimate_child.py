"""The estimate child never writes to the terminal Textual owns: its output goes to a log file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yolofreeze.tui.estimate_process import LOG_NAME, ProcessEstimator


def test_child_stdout_and_stderr_go_to_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("YOLOFREEZE_CACHE_DIR", str(tmp_path))
    est = ProcessEstimator()
    try:
        pool = est._get_pool()
        # Python-level and fd-level writes, as yolov5's logging and a C library would make them
        assert pool.submit(print, "hello from the child").result(timeout=120) is None
        assert pool.submit(os.system, "echo fd-level; echo fd-err >&2").result(timeout=60) == 0
    finally:
        est.close()
    out, err = capfd.readouterr()
    assert "hello from the child" not in out + err and "fd-level" not in out + err and "fd-err" not in out + err
    log = (tmp_path / LOG_NAME).read_text()
    assert "estimate child" in log and "hello from the child" in log and "fd-level" in log and "fd-err" in log
