"""Cheap text updates: a monitor refreshes several labels twice a second.

``Static.update`` re-lays out the whole screen by default; that is most of the monitor's CPU cost.
Skipping unchanged text, and skipping the layout pass when the line count is unchanged (every
label here has a fixed width), keeps the monitor near idle.
"""

from __future__ import annotations

from textual.widgets import Static

_LAST: dict[int, str] = {}


def set_text(widget: Static, text: str) -> None:
    prev = _LAST.get(id(widget))
    if prev == text:
        return
    _LAST[id(widget)] = text
    widget.update(text, layout=prev is None or prev.count("\n") != text.count("\n"))
