"""A red banner for a checkpoint that references code: says what, and what still works."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class HostileBanner(Static):
    """Shown above the tree when ``info.hostile``; names the globals the file would run."""

    DEFAULT_CSS = """
    HostileBanner {
        height: auto;
        background: $error;
        color: $text;
        padding: 0 1;
        text-style: bold;
    }
    """

    def __init__(self, suspicious: tuple[str, ...], *, id: str | None = None) -> None:
        names = ", ".join(suspicious[:4]) + (f" and {len(suspicious) - 4} more" if len(suspicious) > 4 else "")
        text = Text.assemble(
            ("⚠ HOSTILE FILE ", "bold reverse"),
            f" it references code that would run if loaded: {names}. ",
            ("Inspect, plan and export work; training is refused.", "not bold"),
        )
        super().__init__(text, id=id)
        self.suspicious = suspicious
