"""Helpers shared by the subcommands: opening a checkpoint, resolving a plan, formatting."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.errors import UsageError
from yolofreeze.core.plan.freeze import PRESETS_HELP, FreezePlan, load_plan_file, preset
from yolofreeze.core.plan.schedule import Schedule
from yolofreeze.tui.format import safe_text


def whole_number(what: str, lo: int, hi: int) -> Callable[[str], int]:
    """An argparse ``type=`` for a bounded int: anything else is a one-line usage error (exit 2)."""

    def parse(text: str) -> int:
        t = text.strip()
        if not t.lstrip("+-").isdigit() or not t.isascii():
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {text[:40]!r}")
        if len(t) > 18 or int(t) > hi:
            raise argparse.ArgumentTypeError(f"{what} must be at most {hi:,}, got {text[:40]}")
        n = int(t)
        if n < lo:
            raise argparse.ArgumentTypeError(f"{what} must be {lo} or more, got {n}")
        return n

    return parse


def positive_number(what: str, hi: float) -> Callable[[str], float]:
    """An argparse ``type=`` for a finite float in (0, hi]: inf, nan, 0, negatives are refused."""

    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text[:40]!r}") from None
        if not math.isfinite(x) or not 0 < x <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be more than 0 and at most {hi:,g}, got {text[:40]}")
        return x

    return parse


# Far beyond any real run, small enough that the estimate's arithmetic and search stay instant.
MAX_GPU_GIB = 65_536.0


def add_checkpoint_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", help="checkpoint file (.pt, .pth, .safetensors)")
    p.add_argument("--demo", action="store_true", help="use the built-in demo checkpoint")


def add_plan_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--preset", metavar="P", help=f"freeze preset: {PRESETS_HELP}")
    g.add_argument("--plan", metavar="FILE", help="plan file in any export format (json, names, python, …)")


def checkpoint_path(args: argparse.Namespace) -> str:
    if getattr(args, "demo", False):
        if args.path:
            raise UsageError("give a checkpoint path or --demo, not both")
        from yolofreeze.core.demo import DEMO_MODEL, demo_checkpoint, demo_checkpoint_path

        if not demo_checkpoint_path().is_file():
            # first run only: building it imports torch and yolov5, ~10 s with nothing on screen
            print(
                f"yolofreeze-tui: building the demo checkpoint ({DEMO_MODEL}, once): {demo_checkpoint_path()} …",
                file=sys.stderr,
                flush=True,
            )
        return str(demo_checkpoint())
    if not args.path:
        raise UsageError("a checkpoint path is required (or --demo)")
    return str(args.path)


def open_checkpoint(args: argparse.Namespace) -> ModelInfo:
    return read_checkpoint(checkpoint_path(args))


def resolve_plan(info: ModelInfo, args: argparse.Namespace) -> FreezePlan:
    return resolve_schedule(info, args)[0]


def resolve_schedule(info: ModelInfo, args: argparse.Namespace) -> tuple[FreezePlan, Schedule | None]:
    """The plan (a schedule's phase 0) and, for a json plan file with phases, the schedule."""
    if getattr(args, "plan", None):
        imported = load_plan_file(info, args.plan)
        for w in imported.warnings:
            print(f"yolofreeze-tui: note: {safe_text(w)}", file=sys.stderr)  # quotes the plan file
        return imported.plan, imported.schedule
    return preset(info, getattr(args, "preset", None) or "none"), None
