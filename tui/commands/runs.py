"""``yolofreeze-tui runs [--json]``: recorded training runs, newest last, with their state.

A run whose record is damaged is listed as "unreadable record: why" under its folder name: one bad
file never hides the other runs, nor the damaged run itself.
"""

from __future__ import annotations

import argparse
import json
import time

from yolofreeze.core.errors import EXIT_OK
from yolofreeze.core.training.runs import RunRecord, UnreadableRun, run_status, runs_root, scan_runs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per run")


def _unreadable(entry: UnreadableRun, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {"run_id": entry.run_id, "state": "unreadable", "detail": entry.message, "run_dir": entry.run_dir}
        )
    return f"{entry.run_id:<34} {entry.message}"


def _line(rec: RunRecord, as_json: bool) -> str:
    st = run_status(rec)
    pr = st.progress
    epoch = f"{pr.epoch + 1}/{pr.epochs}" if pr.epochs and pr.started else "-"
    if as_json:
        return json.dumps(
            {
                "run_id": rec.run_id,
                "state": st.state,
                "detail": st.detail,
                "epoch": epoch,
                "save_dir": st.save_dir,
                "pid": rec.pid,
                "device": rec.device,
                "frozen_tensors": rec.frozen_tensors,
                "frozen_prefixes": list(rec.frozen_prefixes),
                "checkpoint": rec.checkpoint,
            }
        )
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.created))
    return (
        f"{rec.run_id:<34} {when}  {st.state:<9} epoch {epoch:<7} device {rec.device:<5} "
        f"frozen {rec.frozen_tensors:<4} {st.save_dir or '-'}"
    )


def run(args: argparse.Namespace) -> int:
    entries = scan_runs()
    if not entries:
        print(f"no recorded runs (in {runs_root()})")
        return EXIT_OK
    for entry in entries:
        if isinstance(entry, UnreadableRun):
            print(_unreadable(entry, args.json))
        else:
            print(_line(entry, args.json))
    return EXIT_OK
