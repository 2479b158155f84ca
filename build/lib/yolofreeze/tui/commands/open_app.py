"""``yolofreeze-tui PATH [--plan FILE]``: open the Textual app on a checkpoint.

The exit code is the app's: 0, or 1 when the file could not be read (after the error screen).
"""

from __future__ import annotations

import argparse

from yolofreeze.tui.commands.common import checkpoint_path


def run(args: argparse.Namespace) -> int:
    from yolofreeze.tui.app import make_app

    app = make_app(checkpoint_path(args), plan_file=getattr(args, "plan", None))
    result = app.run()
    return int(result) if isinstance(result, int) else app.return_code or 0
