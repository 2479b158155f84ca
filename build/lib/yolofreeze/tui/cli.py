"""Command line: ``yolofreeze-tui PATH`` opens the app; subcommands work headless.

Exit codes: 0 ok, 1 unreadable / not a checkpoint, 2 usage, 3 hostile content, 4 bad data or
training options, 5 no GPU, 6 training failed, 7 run not found, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from yolofreeze.core import __version__
from yolofreeze.core.errors import EXIT_USAGE, YoloFreezeError
from yolofreeze.tui.commands import COMMANDS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _main_parser() -> argparse.ArgumentParser:
    cmds = "\n".join(f"  {name:<9} {help_}" for name, help_ in COMMANDS.items())
    p = _Parser(
        prog="yolofreeze-tui",
        description="Inspect a YOLOv5 checkpoint, plan which layers to freeze, estimate the GPU "
        "memory it saves, then launch and monitor the training.",
        epilog=f"commands (yolofreeze-tui COMMAND --help):\n{cmds}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", nargs="?", help="checkpoint to open (.pt, .pth, .safetensors)")
    p.add_argument("--demo", action="store_true", help="open the built-in demo checkpoint (yolov5s, built locally)")
    p.add_argument("--plan", metavar="FILE", help="open with this plan file applied")
    p.add_argument("--version", action="version", version=f"yolofreeze-tui {__version__}")
    return p


def _command_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    mod = importlib.import_module(f"yolofreeze.tui.commands.{name}")
    p = _Parser(prog=f"yolofreeze-tui {name}", description=COMMANDS[name])
    mod.add_arguments(p)
    return p, mod


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in COMMANDS:
            parser, mod = _command_parser(args_list[0])
            args = parser.parse_args(args_list[1:])
            return int(mod.run(args))  # type: ignore[attr-defined]
        args = _main_parser().parse_args(args_list)
        from yolofreeze.tui.commands import open_app

        return open_app.run(args)
    except YoloFreezeError as e:
        print(f"yolofreeze-tui: {e.message}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("yolofreeze-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
