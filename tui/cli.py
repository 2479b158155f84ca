"""Command line: ``yolofreeze-tui PATH`` opens the app; subcommands work headless.

Exit codes: 0 ok, 1 unreadable / not a checkpoint, 2 usage, 3 hostile content, 4 bad data or
training options, 5 no GPU, 6 training failed, 7 run not found, 130 interrupted.

Output is handled here once for every subcommand: every message is escaped (``safe_text``), a
reader that goes away (``inspect evil.pt | head -1``) keeps the command's own exit code and no
BrokenPipeError traceback, and a closed or full stdout is one line on stderr, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from yolofreeze.core import __version__
from yolofreeze.core.errors import EXIT_UNREADABLE, EXIT_USAGE, YoloFreezeError
from yolofreeze.tui.commands import COMMANDS
from yolofreeze.tui.format import safe_text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # one line (no usage block): what is wrong, and where to read more
        print(f"{self.prog}: error: {safe_text(message)} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class GuardedOutput(io.TextIOBase):
    """A stdout/stderr that never raises on write: a failed write is remembered, not thrown.

    On the first failure (EPIPE from a closed pipe, ENOSPC from /dev/full, EIO …) the descriptor
    is pointed at /dev/null, so what is still buffered is dropped quietly (also at interpreter
    exit) and the command runs on to its own exit code.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self.lost: OSError | None = None

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8") or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._stream, "errors", None)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    def write(self, s: str) -> int:
        if self.lost is None:
            try:
                self._stream.write(s)
            except OSError as e:
                self._fail(e)
        return len(s)

    def flush(self) -> None:
        if self.lost is None:
            try:
                self._stream.flush()
            except OSError as e:
                self._fail(e)

    def _fail(self, e: OSError) -> None:
        self.lost = e
        with contextlib.suppress(OSError, ValueError, AttributeError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)


def _strict_safe(stream: TextIO | None) -> None:
    """Never a UnicodeEncodeError: what the terminal's encoding cannot say (LANG=C, ascii:strict)
    is written as a backslash escape instead."""
    with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
        stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


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


def _run(args_list: list[str]) -> int:
    try:
        if args_list and args_list[0] in COMMANDS:
            parser, mod = _command_parser(args_list[0])
            args = parser.parse_args(args_list[1:])
            return int(mod.run(args))  # type: ignore[attr-defined]
        args = _main_parser().parse_args(args_list)
        from yolofreeze.tui.commands import open_app

        return open_app.run(args)
    except YoloFreezeError as e:
        print(f"yolofreeze-tui: {safe_text(e.message)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("yolofreeze-tui: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None, *, stdout_closed: bool = False) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in COMMANDS:
        return _run(args_list)  # the Textual app owns the terminal itself
    real_out, real_err = sys.stdout, sys.stderr
    for s in (real_out, real_err):
        _strict_safe(s)
    out, err = GuardedOutput(real_out), GuardedOutput(real_err)
    sys.stdout, sys.stderr = out, err
    try:
        try:
            rc = _run(args_list)
        except SystemExit as e:  # argparse: --help, --version, usage errors
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_USAGE)
        out.flush()
        err.flush()
    finally:
        sys.stdout, sys.stderr = real_out, real_err
    if stdout_closed:
        print("yolofreeze-tui: stdout is closed: the output was not written", file=sys.stderr)
        return rc
    if out.lost is not None and not isinstance(out.lost, BrokenPipeError):
        # a reader that left (EPIPE) is normal; a full or failing stdout lost output the user wanted
        print(f"yolofreeze-tui: cannot write the output: {out.lost.strerror or out.lost}", file=sys.stderr)
        return rc or EXIT_UNREADABLE
    return rc


def _reopen_closed_std_fds() -> bool:
    """Give closed fds 0-2 /dev/null; True when stdout was closed (``>&-``).

    Otherwise the next file we open would get fd 1 and anything written to stdout (ours or a
    child process's) would land in it.
    """
    closed_out = False
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed_out |= fd == 1
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if closed_out or sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (lives as long as the process)
        closed_out = True
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    return closed_out


def entry() -> None:
    closed = _reopen_closed_std_fds()
    sys.exit(main(stdout_closed=closed))


if __name__ == "__main__":
    entry()
