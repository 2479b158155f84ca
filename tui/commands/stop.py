"""``yolofreeze-tui stop RUN``: stop a recorded run (SIGINT, then SIGTERM, then SIGKILL to its processes).

Exit 0 when the run was stopped or had already ended (the line says which), 7 when no run matches.
"""

from __future__ import annotations

import argparse

from yolofreeze.core.errors import EXIT_OK
from yolofreeze.core.training.runs import find_run, run_status, stop_run


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run id, a unique part of it, or latest")


def run(args: argparse.Namespace) -> int:
    record = find_run(args.run)
    before = run_status(record)
    if before.ended:
        print(f"run {record.run_id} had already ended: {before.state} — {before.detail}")
        return EXIT_OK
    signal_name = stop_run(record)
    after = run_status(record)
    how = f"after {signal_name}" if signal_name not in ("", "none") else "it was no longer running"
    print(f"run {record.run_id} stopped ({how}): {after.state} — {after.detail}")
    return EXIT_OK
