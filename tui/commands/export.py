"""``yolofreeze-tui export PATH (--preset P | --plan FILE) --format F [-o FILE]``."""

from __future__ import annotations

import argparse
import sys

from yolofreeze.core.errors import EXIT_HOSTILE, EXIT_OK, EXIT_USAGE, UsageError
from yolofreeze.core.plan.formats import SUFFIXES, format_for_path
from yolofreeze.core.plan.freeze import FORMATS, export
from yolofreeze.core.safeio import UnsafePathError, no_space_message, write_atomic
from yolofreeze.tui.commands.common import (
    add_checkpoint_argument,
    add_plan_arguments,
    open_checkpoint,
    resolve_schedule,
)
from yolofreeze.tui.format import safe_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_checkpoint_argument(p)
    add_plan_arguments(p)
    p.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        default=None,
        help="output format (default: what -o's extension names: .args.txt yolov5, .py python, "
        ".ultralytics.txt ultralytics, .json json, .names.txt names; otherwise yolov5)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout")


def chosen_format(fmt: str | None, output: str | None) -> str:
    """``-f`` when given, else what ``-o``'s extension names, else yolov5; a contradiction is an error
    (``-o plan.json -f yolov5`` would write ``--freeze 10`` into a file every reader takes for json)."""
    named = format_for_path(output) if output else None
    if fmt is None:
        return named or "yolov5"
    if named is not None and named != fmt:
        raise UsageError(
            f"-o {output} names the {named} format but --format is {fmt}; "
            f"drop --format, or name the file *{SUFFIXES[fmt]}"
        )
    return fmt


def run(args: argparse.Namespace) -> int:
    info = open_checkpoint(args)
    plan, schedule = resolve_schedule(info, args)
    result = export(plan, chosen_format(args.format, args.output), schedule=schedule)
    if not result.exact or not result.text:
        print(f"yolofreeze-tui: {safe_text(result.note)}", file=sys.stderr)  # quotes names from the file
        return EXIT_USAGE
    if result.note:
        print(f"yolofreeze-tui: note: {safe_text(result.note)}", file=sys.stderr)
    text = result.text if result.text.endswith("\n") else result.text + "\n"  # a text file ends its last line
    if args.output:
        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    if info.hostile:
        # the plan is only names, safe to use; the checkpoint itself is not: say so, exit 3
        reasons = info.hostile_reasons
        more = f" and {len(reasons) - 1} more" if len(reasons) > 1 else ""
        print(
            f"yolofreeze-tui: warning: {safe_text(info.path)} is hostile ({safe_text(reasons[0])}{more}); the plan was "
            "written, but never load this checkpoint with torch.load or yolov5",
            file=sys.stderr,
        )
        return EXIT_HOSTILE
    return EXIT_OK


def write_output(path: str, text: str) -> None:
    """``-o``: a regular file only (safeio refuses a device, a directory, a FIFO or a symlink
    rather than replacing it), written atomically with the umask's mode; failures are one line."""
    try:
        write_atomic(path, text)
    except UnsafePathError as e:
        raise UsageError(f"-o {path}: {e.strerror}") from None
    except OSError as e:
        raise UsageError(no_space_message(e, path) or f"-o {path}: cannot write: {e.strerror or e}") from None
