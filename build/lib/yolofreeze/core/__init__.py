"""UI-free core of yolofreeze-tui: checkpoint reading, freeze plans, estimates, launching.

Nothing here imports Textual or Rich, and torch/yolov5 are imported only inside the functions
that need them, so reading a checkpoint never waits for torch.
"""

from __future__ import annotations

__version__ = "0.1.0"
