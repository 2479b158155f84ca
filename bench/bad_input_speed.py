"""Time and memory to a one-line error for every broken and hostile file in the test corpus
(targets: 2 s and 512 MiB each).

Usage: python bench/bad_input_speed.py REAL_CHECKPOINT
Each file runs through the real CLI (`inspect`) in a fresh process with a 2 GiB address-space
limit, so an expanding bomb would fail here rather than pass. RSS is the child's peak resident
memory (from wait4's rusage, per child). A sibling ``*-legacy.pt`` of REAL_CHECKPOINT (as
tests/make_checkpoints.py writes) adds the legacy side-pickle payloads.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.hostile_corpus import (  # noqa: E402
    broken_files,
    bypass_files,
    hostile_files,
    legacy_side_files,
    slow_but_valid_files,
)


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def run_one(path: Path, out: Path, timeout: float = 60) -> tuple[int, float, int, str]:
    """(exit code, wall seconds, peak RSS in KiB, first line of output) of one inspect run."""
    with open(out, "w+") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", "from tui.cli import entry; entry()", "inspect", str(path)],
            stdout=sink, stderr=subprocess.STDOUT, preexec_fn=_limit, cwd=ROOT,
        )
        killer = threading.Timer(timeout, lambda: os.kill(proc.pid, signal.SIGKILL))
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not a running max
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        sink.seek(0)
        first = (sink.readline() or "").strip()
    return proc.returncode, wall, usage.ru_maxrss, first
from tests.yaml_payloads import write_payload_files  # noqa: E402


def yaml_payload_files(outdir: Path, real: Path) -> dict[str, Path]:
    """Clean-pickle checkpoints with a hostile model YAML (tests/yaml_payloads.py); markers in outdir."""
    return {f"yaml-{name}": path for name, path in write_payload_files(real, outdir).items()}


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    real = Path(sys.argv[1])
    legacy = next(iter(sorted(real.parent.glob("*-legacy.pt"))), None)
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        marker = base / "PWNED"
        markers = base / "markers"
        markers.mkdir()
        files = {**broken_files(base / "broken", real), **hostile_files(base / "hostile", real, marker),
                 **{f"{k}.pt": v for k, v in bypass_files(base / "bypass", real, markers).items()},
                 **slow_but_valid_files(base / "valid")}
        if legacy is not None:
            files.update({f"{k}.pt": v for k, v in legacy_side_files(base / "legacy", legacy, markers).items()})
        files.update(yaml_payload_files(base / "yaml", real))
        worst = 0.0
        worst_rss = 0
        print(f"{'file':<38} {'exit':>4} {'wall s':>7} {'RSS MiB':>8}  first line of output")
        for name, path in sorted(files.items()):
            rc, wall, rss, first = run_one(path, base / "out.txt")
            worst = max(worst, wall)
            worst_rss = max(worst_rss, rss)
            first = first.replace(str(path), "FILE")
            print(f"{name:<38} {rc:>4} {wall:>7.3f} {rss / 1024:>8.1f}  {first[:90]}")
        ran = marker.exists() or any(markers.iterdir()) or any(base.rglob("*.marker"))
        print(f"\n{len(files)} files; slowest {worst:.3f} s (target 2 s); max RSS {worst_rss / 1024:.1f} MiB "
              f"(target 512 MiB); payload ran: {ran}")
        print(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
