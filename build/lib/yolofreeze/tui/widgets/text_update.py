"""Cheap text updates: a monitor refreshes several labels twice a second.

``Static.update`` re-lays out the whole screen by default; that is most of the monitor's CPU cost.
Skipping unchanged text, and skipping the layout pass when the line count is unchanged (every
label here has a fixed width), keeps the monitor near idle.
"""

from __future__ import annotations

from textual.widgets import Static

_ATTR = "_yolofreeze_text"  # the text last set, kept on the widget itself (an id() may be reused)


def set_text(widget: Static, text: str) -> bool:
    """Show ``text`` in ``widget`` unless it already shows it; True when it changed."""
    prev: str | None = getattr(widget, _ATTR, None)
    if prev == text:
        return False
    setattr(widget, _ATTR, text)
    widget.update(text, layout=prev is None or prev.count("\n") != text.count("\n"))
    return True
