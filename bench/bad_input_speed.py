"""Time to a one-line error for every broken and hostile file in the test corpus (target: 2 s).

Usage: python bench/bad_input_speed.py REAL_CHECKPOINT
Each file runs through the real CLI (`inspect`) in a fresh process with a 2 GiB address-space
limit, so an expanding bomb would fail here rather than pass.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.hostile_corpus import broken_files, hostile_files  # noqa: E402
from tests.yaml_payloads import write_payload_files  # noqa: E402


def yaml_payload_files(outdir: Path, real: Path) -> dict[str, Path]:
    """Clean-pickle checkpoints with a hostile model YAML (tests/yaml_payloads.py); markers in outdir."""
    return {f"yaml-{name}": path for name, path in write_payload_files(real, outdir).items()}


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    real = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        marker = base / "PWNED"
        files = {**broken_files(base / "broken", real), **hostile_files(base / "hostile", real, marker)}
        files.update(yaml_payload_files(base / "yaml", real))

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

        worst = 0.0
        print(f"{'file':<34} {'exit':>4} {'wall s':>7}  first line of output")
        for name, path in sorted(files.items()):
            start = time.perf_counter()
            r = subprocess.run(
                [sys.executable, "-c", "from tui.cli import entry; entry()", "inspect", str(path)],
                capture_output=True,
                text=True,
                timeout=60,
                preexec_fn=limit,
                cwd=ROOT,
            )
            wall = time.perf_counter() - start
            worst = max(worst, wall)
            first = (r.stderr or r.stdout).strip().splitlines()[0].replace(str(path), "FILE")
            print(f"{name:<34} {r.returncode:>4} {wall:>7.3f}  {first[:90]}")
        ran = marker.exists() or any(base.rglob("*.marker"))  # the YAML payloads' markers too
        print(f"\n{len(files)} files; slowest {worst:.3f} s (target 2 s); payload ran: {ran}")
        print(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
