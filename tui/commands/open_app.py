"""``yolofreeze-tui PATH``: open the Textual app (the inspect view until the app lands)."""

from __future__ import annotations

import argparse

from tui.commands.common import open_checkpoint
from tui.commands.inspect import print_summary


def run(args: argparse.Namespace) -> int:
    info = open_checkpoint(args)
    print_summary(info)
    return 0
