"""Predicted against observed GPU memory, each number labelled with what it measures."""

from __future__ import annotations

from textual.widgets import Static

from yolofreeze.tui.format import human_bytes
from yolofreeze.tui.widgets.text_update import set_text


def _b(n: int | None) -> str:
    return human_bytes(n) if n is not None else "N/A"


class MemoryCompare(Static):
    DEFAULT_CSS = """
    MemoryCompare { height: auto; padding: 0 1; }
    """

    def show(
        self,
        predicted_reserved: int | None,
        predicted_nvidia_smi: int | None,
        torch_reserved: int | None,
        torch_max_reserved: int | None,
        nvml_run: int | None,
    ) -> None:
        pred = (
            f"predicted: torch reserved {_b(predicted_reserved)}, nvidia-smi {_b(predicted_nvidia_smi)}"
            if predicted_reserved is not None or predicted_nvidia_smi is not None
            else "predicted: none given at launch"
        )
        seen = (
            f"observed: torch reserved {_b(torch_reserved)} (peak {_b(torch_max_reserved)}, "
            f"yolov5's GPU_mem), nvidia-smi for this run {_b(nvml_run)}"
        )
        set_text(self, f"GPU memory per GPU — {pred}\n{seen}")
