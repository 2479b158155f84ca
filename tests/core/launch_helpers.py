"""Shared by the launch/runs tests: a tiny generated dataset and fast training options."""

from __future__ import annotations

import time
from pathlib import Path

from tests.waiting import wait_for
from yolofreeze.core.training.launch import LaunchOptions
from yolofreeze.core.training.runs import RunRecord, RunStatus, run_status


def fast_options(ckpt: Path, data: Path, frozen: frozenset[str], project: Path, **kw: object) -> LaunchOptions:
    base: dict[str, object] = dict(
        checkpoint=str(ckpt),
        data=str(data),
        frozen=frozen,
        epochs=1,
        batch=4,
        img=64,
        device="cpu",
        workers=0,
        project=str(project),
        name="t",
        plots=False,
        extra_env={
            "YOLOFREEZE_FORBID_NETWORK": "1",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
        },
    )
    base.update(kw)
    return LaunchOptions(**base)  # type: ignore[arg-type]


def wait_end(record: RunRecord, timeout: float = 120.0) -> RunStatus:
    def ended() -> RunStatus | None:
        st = run_status(record)
        return st if st.ended else None

    def log_tail() -> str:
        return "log tail: " + Path(record.log).read_text(errors="replace")[-2000:]

    return wait_for(ended, timeout, f"run {record.run_id} to end", interval=0.3, detail=log_tail)


def make_record(root: Path, run_id: str, log: str = "", **fields: object) -> RunRecord:
    """A saved run record with a log file, for tests that need a run without training one."""
    d = root / "runs" / run_id
    d.mkdir(parents=True)
    (d / "train.log").write_text(log)
    values: dict[str, object] = {
        "run_id": run_id,
        "run_dir": str(d),
        "created": time.time(),
        "checkpoint": "c.pt",
        "checkpoint_sha256": "0",
        "data": "d.yaml",
        "command": ("python",),
        "cwd": "/",
        "pid": 999999,
        "pid_create_time": 0.0,
        "log": str(d / "train.log"),
        "project": "p",
        "name": "n",
        "device": "cpu",
        "gpus": 0,
        "frozen_tensors": 3,
        "bn_eval": True,
    }
    values.update(fields)
    values.setdefault("pgid", values["pid"])
    rec = RunRecord(**values)  # type: ignore[arg-type]
    rec.save()
    return rec
