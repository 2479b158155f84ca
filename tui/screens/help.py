"""Help: what the tree's symbols mean, every key that works where help was asked for (read from the
active bindings so it cannot drift), then the keys of the other screens (read from their classes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

if TYPE_CHECKING:
    from collections.abc import Mapping

    from textual.binding import ActiveBinding

# What the tree's marks mean: the same words the rows and the summary use.
LEGEND = [
    ("■ frozen", "Every parameter under this row is frozen (requires_grad=False)"),
    ("□ trainable", "Every parameter under this row trains"),
    ("◧ mixed N%", "Part of this row is frozen: N% of its parameters (by count, not tensors)"),
    ("·", "A layer without parameters (Upsample, Concat): neither frozen nor trainable"),
    ("← -1,6", "The layers this one takes its input from (the YAML's 'from')"),
    ("×3", "The module repeats its block that many times"),  # noqa: RUF001  (the sign the tree draws)
    ("estimating…", "The figures are greyed: they are for the previous settings until the new estimate"),
    ("assumed 24 GiB", "No GPU visible: the fit check uses a size nobody measured (g types another)"),
    ("whole run (smi)", "What nvidia-smi would show at the run's peak per GPU: epoch 0, validation, training after it"),
    ("step ≈ 0.6×", "Predicted time of one training iteration against no freezing (traced FLOPs)"),  # noqa: RUF001
]

# Keys Textual or the tree provide that are worth knowing, with no Binding of ours behind them.
EXTRA = [
    ("up/down, j/k", "Move the cursor"),
    ("mouse", "Click a row to select and expand it; click its ■/□ symbol to toggle it"),
    ("mouse", "Click a setting in the summary: batch, img and GPU ask for a value, the optimizer cycles"),
]
KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "right_square_bracket": "]",
    "left_square_bracket": "[",
}
# moving between widgets and the cursor keys: listed once in EXTRA rather than per widget
SKIPPED_ACTIONS = {"cursor_up", "cursor_down", "app.focus_next", "app.focus_previous", "focus_next", "focus_previous"}


def _section(node: object) -> str:
    return str(getattr(node, "HELP_SECTION", "") or type(node).__name__)


def _depth(node: object) -> int:
    """The focused widget's keys first, then the screen's, then the app's (as Textual looks them up)."""
    return 2 if isinstance(node, App) else 1 if isinstance(node, Screen) else 0


def binding_rows(active: Mapping[str, ActiveBinding]) -> list[tuple[str, str, str]]:
    """(section, keys, what it does) for a screen's active bindings (``Screen.active_bindings``):
    the focused widget's first, then the screen's, then the app's; keys of one binding joined."""
    grouped: dict[tuple[int, str, str], tuple[int, str, list[str], str]] = {}
    for key, (node, binding, _enabled, tooltip) in active.items():
        if binding.action in SKIPPED_ACTIONS:
            continue
        what = tooltip or binding.description or binding.action
        entry = grouped.setdefault((id(node), binding.action, what), (_depth(node), _section(node), [], what))
        entry[2].append(KEY_NAMES.get(key, key))
    ordered = sorted(grouped.values(), key=lambda entry: entry[0])  # stable: each node's own order kept
    return [(section, ", ".join(keys), what) for _, section, keys, what in ordered] + [
        ("Other", k, d) for k, d in EXTRA
    ]


def screen_rows(section: str, bindings: list[BindingType]) -> list[tuple[str, str, str]]:
    """(section, keys, what it does) for a screen that is not showing, from its class's BINDINGS."""
    out = []
    for b in Binding.make_bindings(bindings):
        if b.action in SKIPPED_ACTIONS:
            continue
        keys = ", ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in b.key.split(","))
        out.append((section, keys, b.tooltip or b.description or b.action))
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
        Binding("end,G", "end", "Bottom", show=False),
        Binding("home", "home", "Top", show=False),
    ]

    def __init__(self, rows: list[tuple[str, str, str]], others: list[tuple[str, str, str]] | None = None) -> None:
        super().__init__()
        self.rows = [("Legend", k, d) for k, d in LEGEND] + rows + (others or [])

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 1), show_header=False, expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        last = ""
        for section, keys, what in self.rows:
            if section != last:
                table.add_row(Text(section.upper(), "bold underline"), "")
                last = section
            table.add_row(keys, what)
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label("Help  (escape closes · up/down, End and Home scroll)", id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(table, id="help-table")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_end(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).scroll_end(animate=False)

    def action_home(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).scroll_home(animate=False)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
