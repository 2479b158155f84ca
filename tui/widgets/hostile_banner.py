"""A red banner for a checkpoint that references code: says what, and what still works."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from yolofreeze.tui.format import safe_text


class HostileBanner(Static):
    """Shown above the tree when ``info.hostile``; names the globals or the YAML text the file would run."""

    DEFAULT_CSS = """
    HostileBanner {
        height: auto;
        background: $error;
        color: $text;
        padding: 0 1;
        text-style: bold;
    }
    """

    def __init__(
        self, suspicious: tuple[str, ...], *, yaml_problems: tuple[str, ...] = (), id: str | None = None
    ) -> None:
        parts: list[str] = []
        if suspicious:
            more = f" and {len(suspicious) - 4} more" if len(suspicious) > 4 else ""
            names = ", ".join(safe_text(s) for s in suspicious[:4]) + more  # names from the file: escaped
            parts.append(f" it references code that would run if loaded: {names}. ")
        if yaml_problems:  # already escaped and truncated by the gate
            more = f" (and {len(yaml_problems) - 1} more)" if len(yaml_problems) > 1 else ""
            parts.append(f" its model YAML holds what yolov5 would run when building it: {yaml_problems[0]}{more}. ")
        text = Text.assemble(
            ("⚠ HOSTILE FILE ", "bold reverse"),
            *parts,
            ("Inspect, plan and export work; estimating and training are refused.", "not bold"),
        )
        super().__init__(text, id=id)
        self.suspicious = suspicious
        self.yaml_problems = yaml_problems
