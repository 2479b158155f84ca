"""Shown while the safe reader runs in a thread: which file, how big, and a spinner."""

from __future__ import annotations

import os

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Label, LoadingIndicator

from yolofreeze.tui.format import human_bytes


class LoadingScreen(Screen[None]):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        try:
            size = f" ({human_bytes(os.path.getsize(self.path))})"
        except OSError:
            size = ""
        with Vertical(id="loading-box"):
            yield Label(f"Reading {os.path.basename(self.path)}{size} …", id="loading-label")
            yield LoadingIndicator(id="loading-indicator")
