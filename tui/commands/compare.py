"""``yolofreeze-tui compare``: compare runs that exist, or queue one run per plan and compare those.

- ``compare RUN|DIR … [--report DIR] [--json] [--tui]``: our runs (ids, record folders), queues,
  and plain yolov5 ``runs/train/expN`` folders, side by side.
- ``compare CKPT --data D.yaml --plans none,backbone,all[,FILE…] [options] [--detach]``: every
  member is validated first (one line per problem, nothing started), then a detached queue
  process trains them one after another. Without ``--detach`` the queue is followed here until
  it ends, then compared; Ctrl-C stops it (the current member stops, the rest are skipped).
- ``compare --stop QUEUE`` / ``compare --resume QUEUE``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from yolofreeze.core.errors import EXIT_OK, EXIT_TRAINING_FAILED, UsageError
from yolofreeze.core.training import options
from yolofreeze.tui.commands.common import whole_number
from yolofreeze.tui.format import safe_text

EXIT_INTERRUPTED = 130
MAX_PLANS = 16


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("items", nargs="*", metavar="RUN|DIR|CKPT", help="runs, queues or yolov5 folders; or a checkpoint")
    p.add_argument("--plans", metavar="P,P,…", help="queue one run per plan: presets (none, backbone, all, …) or files")
    p.add_argument("--data", metavar="D.yaml", help="dataset YAML for the queued runs")
    d = options.DEFAULTS
    p.add_argument("--epochs", type=whole_number("epochs", 1, options.MAX_EPOCHS), default=d.epochs)
    p.add_argument("--batch", type=whole_number("batch", 1, options.MAX_BATCH), default=d.batch)
    p.add_argument("--img", type=whole_number("image size", 32, options.MAX_IMG), default=d.img)
    p.add_argument("--hyp", metavar="FILE", help="hyperparameter YAML for every member (default: yolov5's)")
    p.add_argument("--optimizer", choices=options.OPTIMIZERS, default=d.optimizer)
    p.add_argument("--device", default="", help="cpu, 0, or 0,1,… for every member (default: GPU 0 if any)")
    p.add_argument("--workers", type=whole_number("workers", 0, options.MAX_WORKERS), default=d.workers)
    p.add_argument("--project", default=d.project, help="parent folder of the members' save dirs")
    p.add_argument("--detach", action="store_true", help="start the queue and return")
    p.add_argument("--stop", metavar="QUEUE", help="stop a queue: its current member stops, the rest are skipped")
    p.add_argument("--resume", metavar="QUEUE", help="continue a stopped queue (finished members are kept)")
    p.add_argument("--weights", metavar="CKPT", help="checkpoint for yolov5 folders' parameter counts")
    p.add_argument("--report", metavar="DIR", help="write report.md, comparison.csv and PNG charts there")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument(
        "--tui",
        action="store_true",
        help="show the comparison in the terminal UI (a queue: live, left running on quit)",
    )


def run(args: argparse.Namespace) -> int:
    if args.stop:
        return _stop(args.stop)
    if args.resume:
        return _resume(args)
    if args.plans is not None:
        return _queue(args)
    if args.data:
        raise UsageError("--data is for a queue: give --plans too")
    if not args.items:
        raise UsageError("name runs or folders to compare, or a checkpoint with --plans")
    return _show(args, args.items)


def _show(args: argparse.Namespace, items: list[str]) -> int:
    from yolofreeze.core.compare.report import text_report, write_report
    from yolofreeze.core.compare.sources import gather
    from yolofreeze.core.compare.table import compare

    summaries = gather(items, args.weights)
    c = compare(summaries)
    if args.tui:
        from yolofreeze.tui.screens.compare import run_compare_app

        run_compare_app(items, args.weights)
        return EXIT_OK
    if args.json:
        print(json.dumps({"runs": c.records(), "verdicts": list(c.verdicts)}, indent=1, default=str))
    else:
        for line in text_report(c):
            print(safe_text(line))  # labels come from folder names and opt.yaml
        for s in summaries:
            for n in s.notes:
                print(f"yolofreeze-tui: note: {safe_text(s.label)}: {safe_text(n)}", file=sys.stderr)
    if args.report:
        for path in write_report(c, Path(args.report)):
            print(f"wrote {safe_text(str(path))}", file=sys.stderr if args.json else sys.stdout)
    return EXIT_OK


def _plans(args: argparse.Namespace) -> tuple[str, list[tuple[str, frozenset[str]]], Any]:
    from yolofreeze.core.checkpoint.reader import read_checkpoint
    from yolofreeze.core.errors import PlanError
    from yolofreeze.core.plan.freeze import load_plan_file, preset

    if len(args.items) != 1:
        raise UsageError("--plans queues runs from one checkpoint: give exactly one CKPT")
    if not args.data:
        raise UsageError("--plans needs --data D.yaml")
    ckpt = args.items[0]
    info = read_checkpoint(ckpt)
    info.require_safe("train from it")
    specs = [x.strip() for x in args.plans.split(",") if x.strip()]
    if not 1 <= len(specs) <= MAX_PLANS:
        raise UsageError(f"--plans: name 1 to {MAX_PLANS} plans")
    plans: list[tuple[str, frozenset[str]]] = []
    for spec in specs:
        if Path(spec).expanduser().exists():
            imported = load_plan_file(info, spec)
            label = Path(spec).stem
            frozen = imported.plan.frozen
        else:
            try:
                frozen = preset(info, spec).frozen
            except PlanError as e:
                raise PlanError(f"--plans {spec}: {e.message} (or name a plan file that exists)") from None
            label = spec
        while label in {lab for lab, _ in plans}:
            label += "'"
        plans.append((label, frozen))
    return ckpt, plans, info


def _queue(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from yolofreeze.core.compare.queue import create_queue, start_queue_process
    from yolofreeze.core.training.launch import LaunchOptions, validate

    ckpt, plans, info = _plans(args)
    options: dict[str, Any] = dict(
        epochs=args.epochs,
        batch=args.batch,
        img=args.img,
        optimizer=args.optimizer,
        device=args.device,
        workers=args.workers,
        # absolute: a resume from another folder must train into the same place
        project=str(Path(args.project).expanduser().resolve()),
        hyp=str(Path(args.hyp).expanduser().resolve()) if args.hyp else None,
    )
    bad = 0
    for label, frozen in plans:  # the whole queue is checked before anything starts
        opts = LaunchOptions(checkpoint=ckpt, data=args.data, frozen=frozen, name="compare", **options)
        v = validate(opts, info=info)
        for prob in v.problems:
            print(f"yolofreeze-tui: {label}: {prob.field}: {safe_text(prob.message)}", file=sys.stderr)
        bad = bad or (v.exit_code if not v.ok else 0)
    if bad:
        return bad
    full = {k: v for k, v in asdict(LaunchOptions(checkpoint=ckpt, data=args.data, frozen=frozenset())).items()}
    full.update(options)
    for k in ("checkpoint", "data", "frozen", "name"):
        full.pop(k, None)
    qdir = create_queue(ckpt, args.data, plans, full)
    start_queue_process(qdir)
    print(f"started queue {qdir.name}: {', '.join(label for label, _ in plans)} ({len(plans)} runs, one at a time)")
    if args.detach or args.tui:
        print(f"compare it with: yolofreeze-tui compare {qdir.name}")
        print(f"stop it with: yolofreeze-tui compare --stop {qdir.name}")
    if args.tui:  # the screen fills in as the members train; quitting it leaves the queue running
        from yolofreeze.tui.screens.compare import run_compare_app

        run_compare_app([qdir.name])
        return EXIT_OK
    if args.detach:
        return EXIT_OK
    return _follow(args, qdir)


def _follow(args: argparse.Namespace, qdir: Path) -> int:
    from yolofreeze.core.compare.queue import load_queue, request_stop

    seen: dict[str, str] = {}
    began = time.monotonic()
    try:
        while True:
            view = load_queue(qdir)
            for m in view.members:
                if seen.get(m.plan) != m.state:
                    seen[m.plan] = m.state
                    run = f" (run {m.run_id})" if m.run_id else ""
                    detail = f": {safe_text(m.detail)}" if m.detail and m.state not in ("finished",) else ""
                    print(f"{m.plan}: {m.state}{run}{detail}", flush=True)
            if view.phase in ("done", "stopped"):
                break
            if not view.alive and (view.phase != "waiting" or time.monotonic() - began > 30.0):
                print(
                    f"yolofreeze-tui: the queue process of {view.queue_id} is gone; "
                    f"continue it with: yolofreeze-tui compare --resume {view.queue_id}",
                    file=sys.stderr,
                )
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        print(safe_text(request_stop(qdir)), file=sys.stderr)
        return EXIT_INTERRUPTED
    _show(args, [qdir.name])
    ok = all(m.state == "finished" for m in load_queue(qdir).members)
    return EXIT_OK if ok else EXIT_TRAINING_FAILED


def _stop(query: str) -> int:
    from yolofreeze.core.compare.queue import find_queue, request_stop

    print(safe_text(request_stop(find_queue(query))))
    return EXIT_OK


def _resume(args: argparse.Namespace) -> int:
    from yolofreeze.core.compare.queue import find_queue, prepare_resume, start_queue_process

    qdir = find_queue(args.resume)
    view = prepare_resume(qdir)
    todo = [m.plan for m in view.members if m.state != "finished"]
    if not todo:
        print(f"queue {view.queue_id}: every member has finished; nothing to resume")
        return EXIT_OK
    start_queue_process(qdir)
    print(f"resumed queue {view.queue_id}: {', '.join(todo)}")
    if args.detach:
        return EXIT_OK
    return _follow(args, qdir)
