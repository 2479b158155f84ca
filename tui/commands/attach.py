"""``yolofreeze-tui attach RUN [--plain]``: follow a live or finished run from its start.

In a terminal it opens the monitor screen; ``--plain`` (or a pipe) prints the log from the
beginning, then status lines, until the run ends.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from yolofreeze.core.errors import EXIT_OK, EXIT_TRAINING_FAILED, RunRecordError
from yolofreeze.core.training.runs import (
    LogFollower,
    RunRecord,
    RunStatus,
    find_run,
    read_results,
    record_problem,
    run_status,
    stop_run,
)
from yolofreeze.core.training.verify import read_verdict


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", nargs="?", default="latest", help="run id, a unique part of it, or latest (default)")
    p.add_argument("--plain", action="store_true", help="print the log and status lines instead of the monitor")


def describe_end(status: RunStatus) -> list[str]:
    out = [f"run {status.record.run_id}: {status.state} — {status.detail}"]
    if status.state in ("crashed", "oom") and status.last_lines:
        out.append("last log lines:")
        out.extend(f"  {ln}" for ln in status.last_lines[-8:])
    if status.save_dir:
        head, rows = read_results(status.save_dir)
        if rows and "metrics/mAP_0.5" in head:
            out.append(f"epochs done: {len(rows)}; last mAP@0.5 {rows[-1][head.index('metrics/mAP_0.5')]:.4f}")
        out.append(f"save dir: {status.save_dir}")
    verdict = read_verdict(status.record.dir)
    if verdict:
        out.append(f"frozen-weights check: {verdict.get('summary')}")
    elif status.state == "finished":
        out.append("frozen-weights check: not run")
    return out


def follow_plain(
    record: RunRecord, out: TextIO | None = None, poll: float = 0.5, stop_on_interrupt: bool = False
) -> RunStatus:
    out = out or sys.stdout  # looked up now: a default bound at import outlives a replaced stdout
    follower = LogFollower(record.log)
    while True:
        try:
            for line in follower.read():
                out.write(line + "\n")
            out.flush()
            status = run_status(record)
            if status.ended:
                break
            time.sleep(poll)
        except KeyboardInterrupt:
            if not stop_on_interrupt:
                raise
            out.write("yolofreeze-tui: stopping the training (SIGINT, then SIGTERM, then SIGKILL) …\n")
            out.flush()
            stop_run(record)
    for line in follower.rest():
        out.write(line + "\n")
    for line in describe_end(status):
        out.write(line + "\n")
    out.flush()
    return status


def open_run(query: str) -> RunRecord:
    """The run to follow; RunRecordError (exit 1, one line) when any of its files is damaged."""
    record = find_run(query)
    problem = record_problem(record)
    if problem:
        raise RunRecordError(f"run {record.run_id}: unreadable record: {problem}")
    return record


def run(args: argparse.Namespace) -> int:
    record = open_run(args.run)
    if args.plain or not sys.stdout.isatty():
        status = follow_plain(record)
        return EXIT_OK if status.state == "finished" else EXIT_TRAINING_FAILED
    from yolofreeze.tui.monitor_app import run_monitor

    return run_monitor(record.run_id)
