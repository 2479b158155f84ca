"""``yolofreeze-tui train PATH --data D.yaml (--preset P | --plan FILE) [options]``.

Validates everything first (one line per problem; exit 4 bad data/options, 5 no GPU, 3 hostile
file), then starts the training detached. Without ``--detach`` it follows the log here until the
run ends; Ctrl-C stops the training (SIGINT, then SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import sys

from yolofreeze.core.errors import EXIT_OK, EXIT_TRAINING_FAILED
from yolofreeze.core.training.launch import OPTIMIZERS, LaunchOptions, launch, validate
from yolofreeze.tui.commands.common import add_checkpoint_argument, add_plan_arguments, checkpoint_path, resolve_plan


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_checkpoint_argument(p)
    add_plan_arguments(p)
    p.add_argument("--data", required=True, metavar="D.yaml", help="dataset YAML (train/val/names)")
    p.add_argument("--epochs", type=int, default=100, help="training epochs (default 100)")
    p.add_argument("--batch", "--batch-size", type=int, default=16, help="total batch size (default 16)")
    p.add_argument("--img", "--imgsz", type=int, default=640, help="image size in pixels (default 640)")
    p.add_argument("--hyp", metavar="FILE", help="hyperparameter YAML (default: yolov5's hyp.scratch-low)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="SGD")
    p.add_argument("--device", default="", help="cpu, 0, or 0,1,… (several GPUs run DDP); default: GPU 0 if any")
    p.add_argument("--workers", type=int, default=8, help="dataloader workers per process (default 8)")
    p.add_argument("--project", default="runs/train", help="parent folder of the run's save dir")
    p.add_argument("--name", default="exp", help="run name (yolov5 adds 2, 3, … if taken)")
    p.add_argument("--detach", action="store_true", help="start and return; follow later with `attach`")
    p.add_argument("--yolov5-dir", metavar="DIR", help="use a clone of ultralytics/yolov5 instead of the pip package")
    p.add_argument(
        "--no-bn-eval",
        action="store_true",
        help="let BatchNorm layers in frozen parts update their running stats (default: kept in eval)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip yolov5's plots (labels, confusion matrix)")


def run(args: argparse.Namespace) -> int:
    from yolofreeze.core.checkpoint.reader import read_checkpoint

    path = checkpoint_path(args)
    info = read_checkpoint(path)
    info.require_safe("train from it")
    plan = resolve_plan(info, args)
    opts = LaunchOptions(
        checkpoint=path,
        data=args.data,
        frozen=plan.frozen,
        epochs=args.epochs,
        batch=args.batch,
        img=args.img,
        hyp=args.hyp,
        optimizer=args.optimizer,
        device=args.device,
        workers=args.workers,
        project=args.project,
        name=args.name,
        bn_eval=not args.no_bn_eval,
        plots=not args.no_plots,
        yolov5_dir=args.yolov5_dir,
    )
    v = validate(opts, info=info)
    if not v.ok:
        for prob in v.problems:
            print(f"yolofreeze-tui: {prob.field}: {prob.message}", file=sys.stderr)
        return v.exit_code
    record = launch(opts, validation=v)
    bn = "frozen BatchNorm layers kept in eval mode" if opts.bn_eval else "BatchNorm policy off"
    print(
        f"started run {record.run_id} (pid {record.pid}, device {record.device}); "
        f"{plan.counts.frozen_params:,} of {plan.counts.total_params:,} parameters frozen; {bn}"
    )
    print(f"log: {record.log}")
    if args.detach:
        print(f"follow it with: yolofreeze-tui attach {record.run_id}")
        return EXIT_OK
    from yolofreeze.tui.commands.attach import follow_plain

    status = follow_plain(record, stop_on_interrupt=True)
    return EXIT_OK if status.state == "finished" else (130 if status.state == "stopped" else EXIT_TRAINING_FAILED)
