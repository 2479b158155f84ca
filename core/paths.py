"""Where the program keeps its own files: the user cache dir (``YOLOFREEZE_CACHE_DIR`` overrides it)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    override = os.environ.get("YOLOFREEZE_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("yolofreeze-tui"))
