"""Removing the records of ended runs: ``runs --rm RUN`` and ``runs --prune``.

A record folder (under the state directory's ``runs/``) holds our files for one run: run.json, the
log, progress and status, and a hard link to the rebuilt checkpoint the trainer read (kept once per
content under ``inputs/``, see core.training.inputs). Removing it never touches the training's own
outputs (yolov5's ``runs/train/expN``: weights, results.csv), which are the user's. A stored input
copy goes only once no remaining run folder links it.

Only a run that has ended is removed: a live one (starting, running, paused, or a trainer that
outlived its supervisor) is refused, and so is a folder whose run.json cannot be read (its processes
cannot be told apart from a stranger's, so it might still be training). A folder is removed only if it
is a real directory directly inside the runs folder — never through a symlink.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from yolofreeze.core.training.inputs import INPUTS, StoredInput, remove_unused_inputs, unused_inputs
from yolofreeze.core.training.runs import RunRecord, UnreadableRun, run_status


@dataclass(frozen=True)
class Removal:
    run_id: str
    path: Path
    bytes: int
    state: str


@dataclass(frozen=True)
class Refusal:
    run_id: str
    why: str


def folder_bytes(path: Path) -> int:
    """Bytes removing ``path`` frees: its regular files, less those hard-linked elsewhere too (the
    shared input copy, counted when it goes), symlinks not followed, unreadable parts skipped."""
    total = 0
    for dirpath, _dirs, files in os.walk(path, followlinks=False):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                total += st.st_size
    return total


def check_removable(entry: RunRecord | UnreadableRun, root: Path) -> Removal | Refusal:
    if isinstance(entry, UnreadableRun):
        return Refusal(
            entry.run_id, f"its record is unreadable ({entry.message}); check it and delete {entry.run_dir} by hand"
        )
    folder = Path(entry.run_dir)
    try:
        st = os.lstat(folder)
    except OSError as e:
        return Refusal(entry.run_id, f"cannot read {folder}: {e.strerror or e}")
    if not stat.S_ISDIR(st.st_mode) or folder.parent.resolve() != root.resolve():
        return Refusal(entry.run_id, f"{folder} is not a run folder inside {root}")
    state = run_status(entry).state
    if state in ("starting", "running", "paused"):
        return Refusal(entry.run_id, f"it is {state}; stop it first (yolofreeze-tui stop {entry.run_id})")
    return Removal(entry.run_id, folder, folder_bytes(folder), state)


def prune_candidates(
    entries: list[RunRecord | UnreadableRun],
    keep: int = 0,
    older_than_days: float | None = None,
    now: float | None = None,
) -> list[RunRecord | UnreadableRun]:
    """Ended-or-not is checked later; this picks by age: all but the newest ``keep`` runs, and only
    those created more than ``older_than_days`` ago when given. ``entries`` oldest first."""
    now = time.time() if now is None else now
    readable = [e for e in entries if isinstance(e, RunRecord)]
    picked = readable[: max(len(readable) - keep, 0)] if keep > 0 else readable
    if older_than_days is not None:
        picked = [e for e in picked if now - e.created > older_than_days * 86400]
    return list(picked)


def remove(removal: Removal) -> str | None:
    """Delete the folder; an error message (one line) or None."""
    try:
        shutil.rmtree(removal.path)
    except OSError as e:
        return f"could not remove {removal.path}: {e.strerror or e}"
    return None


def inputs_root(runs: Path) -> Path:
    return runs.parent / INPUTS


def prune_inputs(runs: Path, removed: list[Removal], dry_run: bool = False) -> list[StoredInput]:
    """The stored input copies no remaining run uses, removed (after the folders went), or, on a dry
    run, the ones that would be: those whose every other link is inside a folder being removed."""
    root = inputs_root(runs)
    if not dry_run:
        return remove_unused_inputs(root)
    if not root.is_dir():
        return []
    links: dict[tuple[int, int], int] = {}
    for r in removed:
        with _suppress_os():
            st = os.stat(r.path / "input.pt")
            links[(st.st_dev, st.st_ino)] = links.get((st.st_dev, st.st_ino), 0) + 1
    would = list(unused_inputs(root))
    for p in sorted(root.glob("*.pt")):
        with _suppress_os():
            st = os.lstat(p)
            if st.st_nlink > 1 and st.st_nlink - 1 == links.get((st.st_dev, st.st_ino), 0):
                would.append(StoredInput(p, st.st_size))
    return would


def _suppress_os() -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(OSError)
