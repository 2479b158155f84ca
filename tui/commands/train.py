"""``yolofreeze-tui train PATH --data D.yaml (--preset P | --plan FILE) [options]``.

Validates everything first (one line per problem; exit 4 bad data/options, 5 no GPU, 3 hostile
file), then starts the training detached. Without ``--detach`` it follows the log here until the
run ends. Ctrl-C at any instant either stops the run and waits until it is recorded "stopped"
(before the launch returns: nothing was started), or — a second Ctrl-C — leaves it stopping on
its own and names it. The run is on disk before anything slow, so it is never unreachable.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from typing import TextIO

from yolofreeze.core.errors import EXIT_OK, EXIT_TRAINING_FAILED
from yolofreeze.core.plan.freeze import require_something_to_train
from yolofreeze.core.training import options
from yolofreeze.core.training.launch import LaunchOptions, launch, validate
from yolofreeze.core.training.runs import RunRecord, RunStatus, run_status, stop_run
from yolofreeze.tui.commands.common import (
    add_checkpoint_argument,
    add_plan_arguments,
    checkpoint_path,
    resolve_schedule,
    whole_number,
)
from yolofreeze.tui.format import safe_text

EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_checkpoint_argument(p)
    add_plan_arguments(p)
    p.add_argument("--data", required=True, metavar="D.yaml", help="dataset YAML (train/val/names)")
    d = options.DEFAULTS
    p.add_argument(
        "--epochs",
        type=whole_number("epochs", 1, options.MAX_EPOCHS),
        default=d.epochs,
        help=f"training epochs (default {d.epochs})",
    )
    p.add_argument(
        "--batch",
        "--batch-size",
        type=whole_number("batch", 1, options.MAX_BATCH),
        default=d.batch,
        help=f"total batch size (default {d.batch})",
    )
    p.add_argument(
        "--img",
        "--imgsz",
        type=whole_number("image size", 32, options.MAX_IMG),
        default=d.img,
        help=f"image size in pixels, a multiple of the model's largest stride (default {d.img})",
    )
    p.add_argument("--hyp", metavar="FILE", help="hyperparameter YAML (default: yolov5's hyp.scratch-low)")
    p.add_argument(
        "--optimizer", choices=options.OPTIMIZERS, default=d.optimizer, help=f"optimizer (default {d.optimizer})"
    )
    p.add_argument("--device", default=d.device, help="cpu, 0, or 0,1,… (several GPUs run DDP); default: GPU 0 if any")
    p.add_argument(
        "--workers",
        type=whole_number("workers", 0, options.MAX_WORKERS),
        default=d.workers,
        help=f"dataloader workers per process (default {d.workers})",
    )
    p.add_argument("--project", default=d.project, help=f"parent folder of the run's save dir (default {d.project})")
    p.add_argument("--name", default=d.name, help=f"run name (yolov5 adds 2, 3, … if taken; default {d.name})")
    p.add_argument("--detach", action="store_true", help="start and return; follow later with `attach`")
    p.add_argument("--yolov5-dir", metavar="DIR", help="use a clone of ultralytics/yolov5 instead of the pip package")
    p.add_argument(
        "--no-bn-eval",
        action="store_true",
        help="let BatchNorm layers in frozen parts update their running stats (default: kept in eval)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip yolov5's plots (labels, confusion matrix)")
    p.add_argument(
        "--no-estimate",
        action="store_true",
        help="launch without predicting GPU memory first (the record then has none)",
    )


def run(args: argparse.Namespace) -> int:
    from yolofreeze.core.checkpoint.reader import read_checkpoint

    path = checkpoint_path(args)
    info = read_checkpoint(path)
    info.require_safe("train from it")
    plan, schedule = resolve_schedule(info, args)
    if schedule is not None and args.no_bn_eval:  # the flag turns the policy off in every phase
        schedule = replace(schedule, phases=tuple(replace(ph, bn_eval=False) for ph in schedule.phases))
    require_something_to_train(info, plan.frozen)  # exit 4 with the one line, before anything starts
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
        schedule=schedule,
    )
    v = validate(opts, info=info)
    if not v.ok:
        for prob in v.problems:
            print(f"yolofreeze-tui: {prob.field}: {safe_text(prob.message)}", file=sys.stderr)  # quotes files
        return v.exit_code
    if not args.no_estimate:
        from yolofreeze.tui.prediction import predict_in_child

        opts = predict_in_child(info, opts, v, sys.stderr)  # the record says what the run should need
    started: list[RunRecord] = []
    try:
        record = launch(opts, validation=v, on_record=started.append)
        bn = "frozen BatchNorm layers kept in eval mode" if opts.bn_eval else "BatchNorm policy off"
        print(
            f"started run {record.run_id} (pid {record.pid}, device {record.device}); "
            f"{plan.counts.frozen_params:,} of {plan.counts.total_params:,} parameters frozen; {bn}",
            flush=True,
        )
        if schedule is not None and schedule.staged:
            for line in schedule.describe():
                print(f"  {line}", flush=True)
            late = [i for i, ph in enumerate(schedule.phases) if ph.start_epoch >= opts.epochs]
            if late:
                last = opts.epochs - 1
                print(f"yolofreeze-tui: note: phase {late[0]} starts after the last epoch ({last})", flush=True)
        print(f"log: {record.log}", flush=True)
        if args.detach:
            print(f"follow it with: yolofreeze-tui attach {record.run_id}", flush=True)
            return EXIT_OK
        from yolofreeze.tui.commands.attach import follow_plain

        status = follow_plain(record)
    except KeyboardInterrupt:
        if not started:
            print("yolofreeze-tui: interrupted before the training started; nothing is running", file=sys.stderr)
            return EXIT_INTERRUPTED
        return stop_and_wait(started[0])
    return exit_code_for(status)


def exit_code_for(status: RunStatus) -> int:
    if status.state == "finished":
        return EXIT_OK
    return EXIT_INTERRUPTED if status.state == "stopped" else EXIT_TRAINING_FAILED


def stop_and_wait(record: RunRecord, out: TextIO = sys.stdout) -> int:
    """Ctrl-C during `train`: stop the run and wait until it is recorded as ended.

    A second Ctrl-C leaves it to stop on its own (stop.json is on disk and the trainer watches
    it) and says which run that is, so it is never left unnamed.
    """
    from yolofreeze.tui.commands.attach import describe_end

    out.write(
        f"yolofreeze-tui: stopping run {record.run_id} (it stops at the next batch; "
        "Ctrl-C again to leave it stopping on its own) …\n"
    )
    out.flush()
    try:
        stop_run(record)
        deadline = time.monotonic() + 60.0
        status = run_status(record)
        while not status.ended and time.monotonic() < deadline:
            time.sleep(0.2)
            status = run_status(record)
    except KeyboardInterrupt:
        print(
            f"yolofreeze-tui: run {record.run_id} was asked to stop and is still running until it does; "
            f"follow it with: yolofreeze-tui attach {record.run_id}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if not status.ended:
        print(
            f"yolofreeze-tui: run {record.run_id} is still running after the stop (pid {record.pid}); "
            f"see: yolofreeze-tui runs",
            file=sys.stderr,
        )
        return EXIT_TRAINING_FAILED
    for line in describe_end(status):
        out.write(line + "\n")
    out.flush()
    return exit_code_for(status)
