"""The one way this project imports yolov5 / ultralytics: quietly, and out of the user's home.

``import yolov5.models.yolo`` imports ultralytics, whose settings manager prints "Creating new
Ultralytics Settings" on *stdout* and writes ``~/.config/Ultralytics/settings.json`` the first time
on a machine; yolov5 itself makes ``~/.config/Ultralytics`` (its font dir) and matplotlib writes
``~/.config/matplotlib`` and ``~/.cache/matplotlib``. On stdout that banner corrupts
``estimate --json``; in a home it is a file the user never asked for. ``quiet_env`` points all of
them into our cache dir and switches ultralytics' chatter and network checks off; it must run
before the first import, so every import of theirs goes through ``import_yolov5``.

Set here (a value the user already set for a config dir is kept; verbosity and offline are not
negotiable, since our stdout must stay machine-readable):
- ``YOLO_CONFIG_DIR`` (ultralytics settings), ``YOLOV5_CONFIG_DIR`` (yolov5 fonts, the same folder
  the runner prepares), ``MPLCONFIGDIR`` (matplotlib's config and font cache), all under
  ``yolofreeze.core.paths.cache_dir()``;
- ``YOLO_OFFLINE=1`` (no DNS lookups on import), ``YOLO_VERBOSE=False``, ``YOLOv5_VERBOSE=False``.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

FORCED = {"YOLO_OFFLINE": "1", "YOLO_VERBOSE": "False", "YOLOv5_VERBOSE": "False"}


def quiet_env() -> dict[str, str]:
    """Set the environment yolov5/ultralytics/matplotlib read at import; returns what is in effect."""
    from yolofreeze.core.paths import cache_dir

    root = cache_dir()
    dirs = {
        "YOLO_CONFIG_DIR": root / "ultralytics-config",
        "YOLOV5_CONFIG_DIR": root / "yolov5-config",
        "MPLCONFIGDIR": root / "matplotlib",
    }
    for name, path in dirs.items():
        if not os.environ.get(name):
            path.mkdir(parents=True, exist_ok=True)
            os.environ[name] = str(path)
    os.environ.update(FORCED)
    return {name: os.environ[name] for name in (*dirs, *FORCED)}


def import_yolov5(module: str = "yolov5.models.yolo") -> ModuleType:
    """``importlib.import_module(module)`` with ``quiet_env`` applied first and yolov5's import
    warnings (pkg_resources) silenced."""
    quiet_env()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(module)
