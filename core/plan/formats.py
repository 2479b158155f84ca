"""Export formats and file names: the format follows the file's extension, and the other way round.

One table, used by ``export -o`` (no ``-f`` needed when the name says it) and by the TUI's export
screen (typing ``plan.json`` selects json; picking json renames the suggested file).
"""

from __future__ import annotations

import os

# The longest suffix wins: "x.freeze.args.txt" is yolov5, "x.names.txt" is names. A bare ".txt" says
# nothing (three formats are text), so it names no format.
SUFFIXES: dict[str, str] = {
    "yolov5": ".args.txt",
    "python": ".py",
    "ultralytics": ".ultralytics.txt",
    "json": ".json",
    "names": ".names.txt",
}


def format_for_path(path: str) -> str | None:
    """The format a file name asks for, or None when its extension names none."""
    name = os.path.basename(path).lower()
    hits = [(len(suffix), fmt) for fmt, suffix in SUFFIXES.items() if name.endswith(suffix) and name != suffix]
    return max(hits)[1] if hits else None


def path_for(stem: str, fmt: str) -> str:
    """``stem`` + the format's suffix, e.g. ``yolov5s.freeze`` -> ``yolov5s.freeze.json``."""
    return stem + SUFFIXES[fmt]


def stem_of(path: str) -> str:
    """A file name without the format suffix it carries (``a.freeze.args.txt`` -> ``a.freeze``)."""
    fmt = format_for_path(path)
    if fmt is not None:
        return path[: len(path) - len(SUFFIXES[fmt])]
    root, ext = os.path.splitext(path)
    return root if ext.lower() == ".txt" else path
