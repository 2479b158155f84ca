"""One module per CLI subcommand: ``add_arguments(parser)`` and ``run(args) -> int``.

Each is a thin layer over core; none imports torch at module level, so ``inspect`` and
``export`` stay fast and torch-free.
"""

from __future__ import annotations

COMMANDS = {
    "inspect": "show what a checkpoint holds (layers, parameters, metadata, globals)",
    "export": "write a freeze plan in yolov5 / python / ultralytics / json / names form",
    "estimate": "predict training GPU memory for a plan, against no freezing",
    "train": "launch YOLOv5 training with exactly the plan's parameters frozen",
    "runs": "list recorded training runs",
    "attach": "follow a live or finished run",
    "stop": "stop a recorded run (its whole process group)",
    "compare": "compare runs (ours or yolov5 folders), or queue one run per freeze plan",
}
