"""Helpers shared by the subcommands: opening a checkpoint, resolving a plan, formatting."""

from __future__ import annotations

import argparse
import sys

from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.errors import UsageError
from yolofreeze.core.plan.freeze import PRESETS_HELP, FreezePlan, load_plan_file, preset


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
    if getattr(args, "plan", None):
        imported = load_plan_file(info, args.plan)
        for w in imported.warnings:
            print(f"yolofreeze-tui: note: {w}", file=sys.stderr)
        return imported.plan
    return preset(info, getattr(args, "preset", None) or "none")
