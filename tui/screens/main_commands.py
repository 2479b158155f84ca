"""The main screen's command palette entries (ctrl+p), as the screen's own provider.

Textual asks the providers in ``Screen.COMMANDS`` of the screen the palette opened over, so these
entries exist only there, and the app knows nothing of them. Each entry runs one of the screen's
actions, the same ones its keys run.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, help, action) of the main screen's command palette entries (ctrl+p)
PALETTE = (
    ("Preset: freeze nothing", "Every parameter trainable", "preset('none')"),
    ("Preset: freeze the backbone", "Layers of the YAML's backbone (--freeze 10 on P5)", "preset('backbone')"),
    ("Preset: freeze all but Detect", "Only the output layer trains", "preset('all')"),
    ("Preset: freeze the first N layers", "Asks for N", "first_n"),
    ("Export the plan", "Formats, file path, clipboard", "export"),
    ("Copy --freeze arguments", "To the clipboard (OSC 52, works over SSH)", "copy"),
    ("Save the plan", "JSON plan file", "save_plan"),
    ("Load a plan file", "Any export format", "load_plan"),
    ("Undo", "Previous plan", "undo"),
    ("Redo", "Next plan", "redo"),
    ("Filter rows", "By name or type", "filter"),
    ("Set GPU memory", "For the fits / does not fit check (GiB, typed)", "set_gpu"),
    ("Set image size", "Training --img (typed)", "set_img"),
    ("Set batch size", "Training --batch-size (typed)", "set_batch"),
    ("Cycle optimizer", "SGD / Adam / AdamW", "cycle_optimizer"),
    ("Double the batch", "Training --batch-size", "cycle_batch(2)"),
    ("Halve the batch", "Training --batch-size", "cycle_batch(0.5)"),
    ("Launch training", "With this plan", "launch"),
    ("Training runs", "Recorded runs", "runs"),
    ("Keys", "Every binding", "help"),
)


class PlanCommands(Provider):
    """The main screen's own palette entries; Textual asks the screen the palette opened over."""

    def _entries(self) -> Iterator[tuple[str, str, Any]]:
        for title, help_, action in PALETTE:
            yield title, help_, partial(self.screen.run_action, action)

    async def discover(self) -> Hits:
        for title, help_, run in self._entries():
            yield DiscoveryHit(title, run, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_, run in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, text=title, help=help_)
