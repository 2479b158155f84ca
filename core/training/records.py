"""Run record files are untrusted input: bounded reads, special files refused, every field checked.

Anything under the state dir may have been edited by hand, truncated by a full disk, copied from
another machine, or replaced by a FIFO or a link to /dev/zero. Every record file is read here:
``load_record_file`` opens it only if it is a regular file no larger than its kind's bound, parses
it without recursion blow-ups, and checks each known field's type, range and length against the
schema for its file name. A problem is a ``RecordError`` with one line saying which file, which
field and why; callers turn that into "unreadable record: why" instead of a traceback.

Fields a schema does not know are passed through unchecked (a newer runner may write more);
a reader that starts using one must add it to the schema here first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from yolofreeze.core.safeio import UnsafePathError, read_limited

Checker = Callable[[Any], Any]

MAX_PATH = 4096
MAX_NAME = 256
MAX_TEXT = 4000
# Real record files are a few KiB; anything far larger is not one of ours.
SIZE_LIMITS = {
    "run.json": 1 << 20,
    "status.json": 256 << 10,
    "progress.json": 64 << 10,
    "exit.json": 64 << 10,
    "stop.json": 64 << 10,
    "verify.json": 1 << 20,
}
DEFAULT_LIMIT = 64 << 20  # config.json / frozen-applied.json: written by us, sized by the model


class RecordError(ValueError):
    """A record file that cannot be trusted; the message is one line (file: field: why)."""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad(value: Any, expected: str) -> RecordError:
    return RecordError(f"is {_show(value)} ({_kind(value)}), expected {expected}")


def integer(lo: int, hi: int) -> Checker:
    def check(v: Any) -> int:
        # bool is an int to Python, never to a record
        if isinstance(v, bool) or not isinstance(v, int):
            raise _bad(v, f"a whole number from {lo} to {hi}")
        if not lo <= v <= hi:
            raise RecordError(f"is {v}, outside {lo}..{hi}")
        return v

    return check


def number(lo: float, hi: float) -> Checker:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _bad(v, "a number")
        if not math.isfinite(v) or not lo <= v <= hi:
            raise RecordError(f"is {v}, outside {lo:g}..{hi:g}")
        return float(v)

    return check


def text(max_len: int, allow_empty: bool = True) -> Checker:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise _bad(v, "text")
        if len(v) > max_len:
            raise RecordError(f"is {len(v)} characters long, over the {max_len}-character limit")
        if not v and not allow_empty:
            raise RecordError("is empty")
        # control characters would reach the user's terminal as escape sequences
        if any(ord(c) < 32 or ord(c) == 127 for c in v):
            raise RecordError(f"is {_show(v)}, which holds control characters")
        return v

    return check


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _bad(v, "true or false")
    return v


def optional(inner: Checker) -> Checker:
    def check(v: Any) -> Any:
        return None if v is None else inner(v)

    return check


def list_of(inner: Checker, max_items: int) -> Checker:
    def check(v: Any) -> list[Any]:
        if not isinstance(v, list):
            raise _bad(v, "a list")
        if len(v) > max_items:
            raise RecordError(f"has {len(v)} items, over the {max_items}-item limit")
        out = []
        for i, item in enumerate(v):
            try:
                out.append(inner(item))
            except RecordError as e:
                raise RecordError(f"item {i} {e}") from None
        return out

    return check


def mapping(max_items: int = 1000) -> Checker:
    def check(v: Any) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise _bad(v, "an object")
        if len(v) > max_items:
            raise RecordError(f"has {len(v)} entries, over the {max_items}-entry limit")
        return v

    return check


def object_of(schema: Mapping[str, Checker], max_items: int = 1000) -> Checker:
    def check(v: Any) -> dict[str, Any]:
        d = mapping(max_items)(v)
        return check_fields(d, schema)

    return check


def check_fields(
    data: dict[str, Any], schema: Mapping[str, Checker], required: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``data`` with each known field checked (and normalised: ints become floats where a number is due)."""
    missing = sorted(required - data.keys())
    if missing:
        raise RecordError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
    out = dict(data)
    for name, check in schema.items():
        if name in data:
            try:
                out[name] = check(data[name])
            except RecordError as e:
                raise RecordError(f"{name} {e}") from None
    return out


# What the launcher, runner and verifier write (training/launch.py, training/child/runner.py, training/verify.py).
TIMESTAMP = number(0.0, 1e11)
PID = integer(1, 1 << 22)  # Linux's pid_max is at most 2**22
BYTES = integer(0, 1 << 60)
COUNT = integer(0, 10**9)

STATUS_SCHEMA: dict[str, Checker] = {
    "phase": text(64),
    "ending": optional(text(64)),
    "error": optional(text(MAX_TEXT)),
    "save_dir": optional(text(MAX_PATH)),
    "pid": optional(PID),
    "devices": list_of(
        object_of({"uuid": optional(text(MAX_NAME)), "name": optional(text(MAX_NAME)), "cuda_index": optional(COUNT)}),
        256,
    ),
}
PROGRESS_SCHEMA: dict[str, Checker] = {
    "epoch": COUNT,
    "epochs": COUNT,
    "batch": COUNT,
    "batches": COUNT,
    "started": optional(TIMESTAMP),
    "updated": optional(TIMESTAMP),
    "losses": list_of(number(-1e30, 1e30), 64),
    "torch_reserved": optional(BYTES),
    "torch_max_reserved": optional(BYTES),
}
EXIT_SCHEMA: dict[str, Checker] = {
    # a return code, or minus the signal that ended the process
    "returncode": optional(integer(-128, 255)),
    "started": optional(TIMESTAMP),
    "ended": optional(TIMESTAMP),
    "by": optional(text(MAX_NAME)),
}
STOP_SCHEMA: dict[str, Checker] = {"requested": optional(TIMESTAMP)}
VERIFY_SCHEMA: dict[str, Checker] = {
    "summary": optional(text(MAX_TEXT)),
    "ok": optional(boolean),
    "output_path": optional(text(MAX_PATH)),
}
SCHEMAS: dict[str, dict[str, Checker]] = {
    "status.json": STATUS_SCHEMA,
    "progress.json": PROGRESS_SCHEMA,
    "exit.json": EXIT_SCHEMA,
    "stop.json": STOP_SCHEMA,
    "verify.json": VERIFY_SCHEMA,
}


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RecordError("is not UTF-8 text") from None
    except RecursionError:
        raise RecordError("is nested too deeply to be a record") from None
    except ValueError as e:
        raise RecordError(f"is not valid JSON ({str(e).split(':')[0]}; truncated?)") from None
    if not isinstance(data, dict):
        raise RecordError(f"holds {_kind(data)}, not an object")
    return data


def load_record_file(path: Path, schema: Mapping[str, Checker] | None = None) -> dict[str, Any] | None:
    """A record file's checked fields; None when it does not exist; RecordError when it is bad.

    ``schema`` defaults to the one for the file's name (none for files without one).
    """
    limit = SIZE_LIMITS.get(path.name, DEFAULT_LIMIT)
    try:
        raw = read_limited(path, limit)
    except FileNotFoundError:
        return None
    except UnsafePathError as e:
        raise RecordError(f"{path.name}: {e.strerror}") from None
    except OSError as e:
        raise RecordError(f"{path.name}: cannot be read ({e.strerror or e})") from None
    try:
        data = parse_json_object(raw)
        return check_fields(data, SCHEMAS.get(path.name, {}) if schema is None else schema)
    except RecordError as e:
        raise RecordError(f"{path.name}: {e}") from None


def checker_for_annotation(annotation: str) -> Checker | None:
    """The checker for a dataclass field's annotation (string form), for fields with no explicit rule."""
    opt = annotation.endswith(" | None")
    base = annotation[: -len(" | None")] if opt else annotation
    found: Checker | None = {
        "int": integer(-(1 << 62), 1 << 62),
        "float": number(-1e300, 1e300),
        "str": text(MAX_PATH),
        "bool": boolean,
        "tuple[str, ...]": list_of(text(MAX_PATH), 10000),
        "dict[str, Any]": mapping(),
    }.get(base)
    if found is None:
        return None
    return optional(found) if opt else found


def special_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a log (a FIFO, a device …), or None. Never opens, never blocks."""
    import os
    import stat

    from yolofreeze.core.safeio import describe_mode

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if not stat.S_ISREG(st.st_mode):
        return f"is {describe_mode(st.st_mode)}, not a regular file"
    return None
