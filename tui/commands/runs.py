"""``yolofreeze-tui runs [--json] [--rm RUN…] [--prune [--keep N] [--older-than DAYS] [--dry-run]]``.

Recorded training runs, newest first (as the TUI's runs screen), with their state; ``--rm`` and
``--prune`` remove the records of ended runs (never the training's own outputs), then the stored
input checkpoint copies that no remaining run uses.

A run whose record is damaged is listed as "unreadable record: why" under its folder name: one bad
file never hides the other runs, nor the damaged run itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from yolofreeze.core.errors import EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE, UsageError
from yolofreeze.core.training.prune import (
    Refusal,
    Removal,
    check_removable,
    prune_candidates,
    prune_inputs,
    remove,
)
from yolofreeze.core.training.runs import RunRecord, UnreadableRun, find_run, run_status, runs_root, scan_runs
from yolofreeze.tui.format import safe_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    p.add_argument("--rm", nargs="+", metavar="RUN", help="remove these ended runs' records (id or unique prefix)")
    p.add_argument("--prune", action="store_true", help="remove the records of ended runs (with --keep/--older-than)")
    p.add_argument("--keep", type=int, default=0, metavar="N", help="--prune: keep the newest N runs")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="--prune: only runs created over DAYS ago")
    p.add_argument("--dry-run", action="store_true", help="--rm/--prune: say what would go, remove nothing")


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
    if args.rm or args.prune:
        return _remove(args)
    entries = scan_runs()
    if not entries:
        print(f"no recorded runs (in {runs_root()})")
        return EXIT_OK
    for entry in reversed(entries):  # newest first, as the TUI lists them
        if isinstance(entry, UnreadableRun):
            print(_unreadable(entry, args.json))
        else:
            print(_line(entry, args.json))
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    if args.keep < 0 or (args.older_than is not None and args.older_than < 0):
        raise UsageError("--keep and --older-than take a number >= 0")
    if args.rm and args.prune:
        raise UsageError("--rm and --prune do not combine; use one")
    root = runs_root()
    if args.rm:
        picked: list[RunRecord | UnreadableRun] = []
        for query in args.rm:
            picked.append(find_run(query))  # not found / ambiguous: one line, exit 7, nothing removed
    else:
        picked = prune_candidates(scan_runs(), args.keep, args.older_than)
    removals: list[Removal] = []
    refusals: list[Refusal] = []
    for entry in picked:
        verdict = check_removable(entry, root)
        if isinstance(verdict, Removal):
            removals.append(verdict)
        else:
            refusals.append(verdict)
    if args.rm and refusals:  # a named run that cannot go: say why, remove none of them
        for r in refusals:
            print(f"yolofreeze-tui: run {safe_text(r.run_id)}: not removed: {safe_text(r.why)}", file=sys.stderr)
        return EXIT_USAGE
    failed = _apply(removals, refusals, root, args.dry_run)
    return EXIT_UNREADABLE if failed else EXIT_OK


def _apply(removals: list[Removal], refusals: list[Refusal], root: Path, dry_run: bool) -> int:
    """Remove (or, on a dry run, name) the records, then the input copies left unused; failures."""
    verb = "would remove" if dry_run else "removed"
    failed = 0
    done: list[Removal] = []
    for removal in removals:
        problem = None if dry_run else remove(removal)
        if problem:
            failed += 1
            print(f"yolofreeze-tui: run {safe_text(removal.run_id)}: {safe_text(problem)}", file=sys.stderr)
        else:
            done.append(removal)
            print(f"{verb} {removal.run_id} ({removal.state}, {_size(removal.bytes)})")
    for r in refusals:  # --prune: live and unreadable runs are kept, and said
        print(f"kept {safe_text(r.run_id)}: {safe_text(r.why)}")
    inputs = prune_inputs(root, done, dry_run)
    for item in inputs:
        print(f"{verb} the input checkpoint copy {item.path.name} ({_size(item.bytes)}): no remaining run uses it")
    total = sum(r.bytes for r in done) + sum(i.bytes for i in inputs)
    print(
        f"{verb} {len(done)} run record{'s' if len(done) != 1 else ''} ({_size(total)}) from {root}; "
        "the training outputs (weights, results.csv) are not touched"
    )
    return failed


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
