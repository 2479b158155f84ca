"""Predicted against observed GPU memory, each number labelled with what it measures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.widgets import Static

from yolofreeze.tui.format import human_bytes, safe_text
from yolofreeze.tui.widgets.text_update import set_text


def _b(n: int | None) -> str:
    return human_bytes(n) if n is not None else "N/A"


def predicted_for(prediction: Mapping[str, Any] | None) -> str:
    """ " for batch 8 @ 96 px, SGD, 1 GPU (whole run)" from a run record's prediction, "" when it has none.
    (The record's fields were type-checked when it was read; missing ones are left out.)"""
    config = (prediction or {}).get("config")
    if not isinstance(config, Mapping):
        return ""
    parts = []
    if isinstance(config.get("batch"), int) and isinstance(config.get("img"), int):
        parts.append(f"batch {config['batch']} @ {config['img']} px")
    if isinstance(config.get("optimizer"), str):
        parts.append(safe_text(config["optimizer"]))
    gpus = config.get("gpus")
    if isinstance(gpus, int):
        parts.append(f"{gpus} GPU" + ("s" if gpus != 1 else ""))
    whole = " (whole run)" if isinstance((prediction or {}).get("run"), Mapping) else " (epoch 0)"
    return f" for {', '.join(parts)}{whole}" if parts else ""


def _phase(prediction: Mapping[str, Any] | None) -> str:
    run = (prediction or {}).get("run")
    step = (prediction or {}).get("step")
    if not isinstance(run, Mapping) or not isinstance(run.get("phase"), str):
        return ""
    before = step.get("nvidia_smi") if isinstance(step, Mapping) else None
    first = f"; epoch 0 {_b(before)}" if isinstance(before, int) else ""
    return f", set by {safe_text(run['phase'])}{first}"


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
        prediction: Mapping[str, Any] | None = None,
    ) -> None:
        pred = (
            f"predicted{predicted_for(prediction)}: torch reserved {_b(predicted_reserved)}, "
            f"nvidia-smi {_b(predicted_nvidia_smi)}{_phase(prediction)}"
            if predicted_reserved is not None or predicted_nvidia_smi is not None
            else "predicted: none given at launch"
        )
        seen = (
            f"observed: torch reserved {_b(torch_reserved)} (peak {_b(torch_max_reserved)}, "
            f"yolov5's GPU_mem), nvidia-smi for this run {_b(nvml_run)}"
        )
        set_text(self, f"GPU memory per GPU — {pred}\n{seen}")
