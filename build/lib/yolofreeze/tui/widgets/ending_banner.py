"""How the run ended — finished, stopped, CUDA out of memory, or crashed — and the weights check."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from yolofreeze.core.training.runs import RunStatus

TITLES = {"finished": "FINISHED", "stopped": "STOPPED", "oom": "CUDA OUT OF MEMORY", "crashed": "CRASHED"}


class EndingBanner(Static):
    DEFAULT_CSS = """
    EndingBanner { height: auto; padding: 0 1; display: none; }
    EndingBanner.-shown { display: block; }
    EndingBanner.-finished { background: $success 30%; }
    EndingBanner.-stopped { background: $warning 30%; }
    EndingBanner.-oom, EndingBanner.-crashed { background: $error 30%; }
    """

    def show(self, status: RunStatus, verdict: dict[str, Any] | None) -> None:
        lines = [f"{TITLES.get(status.state, status.state.upper())}: {status.detail}"]
        if status.state in ("oom", "crashed"):
            lines += ["last log lines:"] + [f"  {ln}" for ln in status.last_lines[-8:]]
        if verdict:
            lines.append(f"frozen-weights check: {verdict.get('summary')}")
        elif status.state == "finished":
            lines.append("frozen-weights check: not run")
        self.update("\n".join(lines))
        self.set_class(True, "-shown")
        for s in TITLES:
            self.set_class(s == status.state, f"-{s}")
