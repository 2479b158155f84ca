"""An Input whose Tab completes a path from the file system, as a shell does.

One match: completed (a folder gets its "/"). Several: completed to their common part, and the
candidates are posted for the form to show. An empty or already complete field: Tab moves on to the next field.
Reading a folder stops after MAX_SCAN entries, so a folder of 100k files never blocks the screen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

MAX_SCAN = 5000  # entries read per Tab; enough for any folder a user types into by hand
MAX_SHOWN = 8


@dataclass(frozen=True)
class Completion:
    text: str  # the new value (unchanged when nothing could be added)
    candidates: tuple[str, ...]  # names matching, folders with a trailing "/", at most MAX_SHOWN
    matches: int  # how many matched among the entries read
    truncated: bool  # the folder had more than MAX_SCAN entries: not all were read


def complete_path(value: str, dirs_only: bool = False, suffixes: tuple[str, ...] = ()) -> Completion:
    """What Tab makes of ``value``; folders always match (a path goes through them)."""
    expanded = os.path.expanduser(value) if value.startswith("~") else value
    head, prefix = os.path.split(expanded)
    folder = head or "."
    names: list[str] = []
    truncated = False
    try:
        with os.scandir(folder) as it:
            for n, entry in enumerate(it):
                if n >= MAX_SCAN:
                    truncated = True
                    break
                name = entry.name
                if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    names.append(name + "/")
                elif not dirs_only and (not suffixes or name.lower().endswith(suffixes)):
                    names.append(name)
    except OSError:
        return Completion(value, (), 0, False)
    names.sort()
    if not names:
        return Completion(value, (), 0, truncated)
    common = os.path.commonprefix(names)  # noqa: RUF071 -- names share characters, not path parts
    shown = value[: len(value) - len(prefix)]  # as typed ("~/" stays "~/")
    text = shown + common if len(common) > len(prefix) or len(names) == 1 else value
    return Completion(text, tuple(names[:MAX_SHOWN]), len(names), truncated)


class PathInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("tab", "complete", "Complete path", show=False)]

    class Completed(Message):
        """Tab found several candidates (or none, or stopped early): the form shows them."""

        def __init__(self, path_input: PathInput, completion: Completion) -> None:
            super().__init__()
            self.path_input, self.completion = path_input, completion

        @property
        def control(self) -> PathInput:
            return self.path_input

    def __init__(self, *args: object, dirs_only: bool = False, suffixes: tuple[str, ...] = (), **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.dirs_only, self.suffixes = dirs_only, suffixes

    def action_complete(self) -> None:
        if not self.value:
            self.screen.focus_next()  # nothing typed: Tab is the usual "next field"
            return
        c = complete_path(self.value, self.dirs_only, self.suffixes)
        if c.text != self.value:
            self.value = c.text
            self.cursor_position = len(self.value)
        elif c.matches == 1:
            self.screen.focus_next()  # already complete: Tab moves on
            return
        self.post_message(self.Completed(self, c))
