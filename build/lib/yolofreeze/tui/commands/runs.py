"""``yolofreeze-tui runs [--json]``: recorded training runs, newest last, with their state."""

from __future__ import annotations

import argparse
import json
import time

from yolofreeze.core.errors import EXIT_OK
from yolofreeze.core.training.runs import list_runs, run_status, runs_root


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per run")


def run(args: argparse.Namespace) -> int:
    runs = list_runs()
    if not runs:
        print(f"no recorded runs (in {runs_root()})")
        return EXIT_OK
    for rec in runs:
        st = run_status(rec)
        pr = st.progress
        epoch = f"{pr.epoch + 1}/{pr.epochs}" if pr.epochs and pr.started else "-"
        if args.json:
            print(
                json.dumps(
                    {
                        "run_id": rec.run_id,
                        "state": st.state,
                        "detail": st.detail,
                        "epoch": epoch,
                        "save_dir": st.save_dir,
                        "pid": rec.pid,
                        "device": rec.device,
                        "frozen": rec.frozen,
                        "checkpoint": rec.checkpoint,
                    }
                )
            )
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.created))
        print(
            f"{rec.run_id:<34} {when}  {st.state:<9} epoch {epoch:<7} device {rec.device:<5} "
            f"frozen {rec.frozen:<4} {st.save_dir or '-'}"
        )
    return EXIT_OK
