"""The run's log from its first line (bounded), newest at the bottom."""

from __future__ import annotations

from textual.widgets import Log


class LogTail(Log):
    DEFAULT_CSS = """
    LogTail { height: 1fr; min-height: 6; border: round $panel; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(max_lines=2000, auto_scroll=True, **kw)  # type: ignore[arg-type]
