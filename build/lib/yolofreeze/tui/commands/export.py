"""``yolofreeze-tui export PATH (--preset P | --plan FILE) --format F [-o FILE]``."""

from __future__ import annotations

import argparse
import sys

from yolofreeze.core.errors import EXIT_OK, EXIT_USAGE
from yolofreeze.core.plan.freeze import FORMATS, export, write_atomic
from yolofreeze.tui.commands.common import add_checkpoint_argument, add_plan_arguments, open_checkpoint, resolve_plan


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_checkpoint_argument(p)
    add_plan_arguments(p)
    p.add_argument("--format", "-f", choices=FORMATS, default="yolov5", help="output format (default: yolov5)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout")


def run(args: argparse.Namespace) -> int:
    info = open_checkpoint(args)
    plan = resolve_plan(info, args)
    result = export(plan, args.format)
    if not result.exact or not result.text:
        print(f"yolofreeze-tui: {result.note}", file=sys.stderr)
        return EXIT_USAGE
    if result.note:
        print(f"yolofreeze-tui: note: {result.note}", file=sys.stderr)
    if args.output:
        write_atomic(args.output, result.text)
    else:
        sys.stdout.write(result.text if result.text.endswith("\n") else result.text + "\n")
    return EXIT_OK
