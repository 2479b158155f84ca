"""Epoch end times from yolov5's TensorBoard event file, read without TensorBoard.

results.csv carries no times, but train.py logs every epoch's scalars to
``events.out.tfevents.*`` with a wall-clock stamp, in ours and in plain yolov5 runs alike. The
file is a sequence of TFRecords (length, CRC, an ``Event`` protobuf, CRC); an Event's field 1
is ``wall_time`` (double) and field 2 ``step`` (varint). Only those two are decoded; anything
malformed ends the reading there, with what was read so far.
"""

from __future__ import annotations

import struct
from pathlib import Path

from yolofreeze.core.safeio import read_limited

EVENTS_LIMIT = 64 << 20  # a few hundred bytes per epoch: far below this
_RECORD_LIMIT = 1 << 20


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while i < len(buf) and shift < 64:
        c = buf[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return value, i
    raise ValueError("truncated varint")


def _event_time_and_step(data: bytes) -> tuple[float | None, int]:
    i, wall, step = 0, None, 0
    while i < len(data):
        key, i = _varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 1:
            if i + 8 > len(data):
                raise ValueError("truncated double")
            if field == 1:
                wall = struct.unpack_from("<d", data, i)[0]
            i += 8
        elif wire == 0:
            value, i = _varint(data, i)
            if field == 2:
                step = value
        elif wire == 2:
            size, i = _varint(data, i)
            i += size
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wire}")
    return wall, step


def read_event_times(path: Path) -> tuple[float | None, dict[int, float]]:
    """(the file's first stamp, {step: its latest stamp}); (None, {}) for anything unreadable."""
    try:
        buf = read_limited(path, EVENTS_LIMIT)
    except OSError:
        return None, {}
    first: float | None = None
    steps: dict[int, float] = {}
    i = 0
    while i + 12 <= len(buf):
        (n,) = struct.unpack_from("<Q", buf, i)
        if n > _RECORD_LIMIT or i + 12 + n + 4 > len(buf):
            break  # damaged, or the record being written right now
        try:
            wall, step = _event_time_and_step(buf[i + 12 : i + 12 + n])
        except ValueError:
            break
        i += 12 + n + 4
        if wall is None or wall != wall:  # NaN
            continue
        if first is None:
            first = wall
        else:
            steps[step] = max(wall, steps.get(step, wall))
    return first, steps


def epoch_end_times(save_dir: Path) -> tuple[float | None, list[float]]:
    """(when logging began, each epoch's end in order) from the newest event file in ``save_dir``."""
    try:
        files = sorted(
            (p for p in save_dir.glob("events.out.tfevents.*") if p.is_file()), key=lambda p: p.stat().st_mtime
        )
    except OSError:
        return None, []
    if not files:
        return None, []
    first, steps = read_event_times(files[-1])
    return first, [steps[k] for k in sorted(steps)]
