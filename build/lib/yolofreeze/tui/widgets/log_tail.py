"""The run's log from its first line (bounded), newest at the bottom."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from rich.cells import cell_len
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Log


class LogTail(Log):
    DEFAULT_CSS = """
    LogTail { height: 1fr; min-height: 6; border: round $panel; }
    """

    # Log grows its virtual size with every line, and Widget's virtual_size lays out the whole
    # screen (~20 ms) on each change. Only the scrollbars depend on it here: update them, and lay
    # out only when one appears or disappears (show_*_scrollbar do that themselves).
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        if self.is_mounted and self.container_size:
            self._scroll_update(size)
        self.refresh()

    def __init__(self, **kw: object) -> None:
        super().__init__(max_lines=2000, auto_scroll=True, **kw)  # type: ignore[arg-type]

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> Self:
        # Log sets its virtual size (a full screen layout) when lines arrive, then again from a
        # worker once it has measured their width: widen it first and the second one changes
        # nothing, so a new log line costs one layout instead of two.
        lines = list(lines)
        if lines and isinstance(getattr(self, "_width", None), int):
            width = max(cell_len(self._process_line(part)) for line in lines for part in line.splitlines() or [""])
            self._width = max(self._width, width)
        return super().write_lines(lines, scroll_end)
