"""What the user named on the command line, as runs to compare.

An item is a folder (our run's record folder, a queue folder, a yolov5 ``expN`` folder, or a
folder of them such as ``runs/train``), a results.csv / opt.yaml inside one, or a run or
queue id (a unique prefix; ``latest`` is the newest run). A path that is a FIFO, a device or a socket is one
line and exit 1, never read; an id that matches nothing is one line and exit 7.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from yolofreeze.core.compare.queue import find_queue, load_queue, member_records, queues_root
from yolofreeze.core.compare.summary import RunSummary, summarize_record, summarize_yolov5_folder
from yolofreeze.core.errors import RunNotFoundError, RunRecordError
from yolofreeze.core.safeio import describe_mode
from yolofreeze.core.training.runs import RunRecord, find_run

MAX_FOLDERS = 256  # runs/train folders expanded from one item


def _natural(name: str) -> tuple[str, int]:
    m = re.fullmatch(r"(.*?)(\d*)", name)
    assert m is not None
    return m.group(1), int(m.group(2) or 0)


def _show(item: str) -> str:
    return item if item.isprintable() else ascii(item)


def queue_summaries(qdir: Path) -> list[RunSummary]:
    view = load_queue(qdir)
    out = []
    for member, rec in member_records(view):
        if rec is not None:
            out.append(summarize_record(rec, label=member.plan))
        else:
            out.append(RunSummary(member.plan, view.queue_id, "yolofreeze", member.state, None))
    return out


def _folder(path: Path, checkpoint: str | None, state: Path | None) -> list[RunSummary]:
    if (path / "run.json").exists():
        return [summarize_record(RunRecord.load(path))]
    if (path / "queue.json").exists():
        return queue_summaries(path)
    if (path / "results.csv").exists() or (path / "opt.yaml").exists():
        return [summarize_yolov5_folder(path, checkpoint)]
    try:
        children = sorted(
            (d for d in path.iterdir() if d.is_dir() and (d / "results.csv").is_file()), key=lambda d: _natural(d.name)
        )
    except OSError as e:
        raise RunRecordError(f"{_show(str(path))}: cannot be listed ({e.strerror or e})") from None
    if not children:
        raise RunRecordError(
            f"{_show(str(path))}: no run here (no run.json, queue.json, results.csv or opt.yaml, nor folders with them)"
        )
    return [summarize_yolov5_folder(d, checkpoint) for d in children[:MAX_FOLDERS]]


def summaries_for(item: str, checkpoint: str | None = None, state: Path | None = None) -> list[RunSummary]:
    path = Path(item).expanduser()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise RunRecordError(f"{_show(item)}: cannot be read ({e.strerror or e})") from None
    if st is not None:
        if stat.S_ISREG(st.st_mode) and path.name in ("results.csv", "opt.yaml", "run.json", "queue.json"):
            return _folder(path.parent, checkpoint, state)
        if not stat.S_ISDIR(st.st_mode):
            raise RunRecordError(f"{_show(item)}: {describe_mode(st.st_mode)}, not a run folder")
        return _folder(path, checkpoint, state)
    if "/" in item:
        raise RunNotFoundError(f"{_show(item)}: no such folder")
    if item not in ("latest", "last") and queues_root(state).is_dir():  # "latest" is the latest run, as elsewhere
        try:
            return queue_summaries(find_queue(item, state))
        except RunNotFoundError:
            pass
    return [summarize_record(find_run(item, state))]


def gather(items: list[str], checkpoint: str | None = None, state: Path | None = None) -> list[RunSummary]:
    out: list[RunSummary] = []
    for item in items:
        out.extend(summaries_for(item, checkpoint, state))
    return out
