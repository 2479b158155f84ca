"""Time and memory to a one-line error for every broken and hostile file in the test corpus
(targets: 2 s and 512 MiB each).

Usage: python bench/bad_input_speed.py REAL_CHECKPOINT
Each file runs through the real CLI (`inspect`) in a fresh process with a 2 GiB address-space
limit, so an expanding bomb would fail here rather than pass. RSS is the child's peak resident
memory (from wait4's rusage, per child). A sibling ``*-legacy.pt`` of REAL_CHECKPOINT (as
tests/make_checkpoints.py writes) adds the legacy side-pickle payloads.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import struct
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
            [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()", "inspect", str(path)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit,
            cwd=ROOT,
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


from tests.escape_corpus import escape_files  # noqa: E402
from tests.yaml_payloads import write_payload_files  # noqa: E402


def yaml_payload_files(outdir: Path, real: Path) -> dict[str, Path]:
    """Clean-pickle checkpoints with a hostile model YAML (tests/yaml_payloads.py); markers in outdir."""
    return {f"yaml-{name}": path for name, path in write_payload_files(real, outdir).items()}


Case = tuple[str, list[str]]
CLI = [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()"]


def cli(*args: str) -> list[str]:
    return [*CLI, *args]


def shell(script: str, *args: str) -> list[str]:
    """``script`` in bash with "$@" = the CLI and ``args`` (for pipes and redirections)."""
    return ["bash", "-c", script, "sh", *CLI, *args]


def preset_cases(base: Path, real: Path) -> list[Case]:
    sparse = base / "sparse.safetensors"
    names = ["model.0.conv.weight", "model.1.conv.weight", "model.200000000.m.0.weight"]
    header = {n: {"dtype": "F16", "shape": [2], "data_offsets": [4 * i, 4 * i + 4]} for i, n in enumerate(names)}
    blob = json.dumps(header).encode()
    sparse.write_bytes(struct.pack("<Q", len(blob)) + blob + b"\0" * (4 * len(names)))
    return [
        ("preset first:200000000", cli("export", str(real), "--preset", "first:200000000")),
        ("preset layers:0,99", cli("export", str(real), "--preset", "layers:0,99")),
        ("preset first:<5000 digits>", cli("export", str(real), "--preset", "first:" + "9" * 5000)),
        ("layer 200,000,000: all", cli("export", str(sparse), "--preset", "all")),
        ("layer 200,000,000: first:N", cli("export", str(sparse), "--preset", "first:200000001")),
    ]


def plan_cases(base: Path, real: Path) -> list[Case]:
    d = base / "plans"
    d.mkdir()
    files = {
        "--freeze 200000000": "--freeze 200000000\n",
        "freeze=[200000000]": "freeze=[200000000]\n",
        "deep JSON": '{"format": "yolofreeze-plan", "frozen": ' + "[" * 200_000 + "]" * 200_000 + "}",
        "16 MiB unknown names": "model.0.conv.weightX\n" * 798_000,
        "python list of 200k": "freeze = [" + "1," * 200_000 + "]",
    }
    out: list[Case] = []
    for i, (name, text) in enumerate(files.items()):
        (d / f"{i}.txt").write_text(text)
        out.append((f"plan {name}", cli("export", str(real), "--plan", str(d / f"{i}.txt"))))
    return out


def special_file_cases(base: Path, real: Path) -> list[Case]:
    fifo = base / "fifo"
    os.mkfifo(fifo)
    big = base / "big.json"
    with open(big, "wb") as f:
        f.truncate(1 << 40)  # 1 TiB, sparse
    victim = base / "victim.txt"
    victim.write_text("keep")
    (base / "link.txt").symlink_to(victim)
    return [
        ("--plan /dev/zero", cli("export", str(real), "--plan", "/dev/zero")),
        ("--plan FIFO", cli("export", str(real), "--plan", str(fifo))),
        ("--plan 1 TiB sparse", cli("export", str(real), "--plan", str(big))),
        ("--plan directory", cli("export", str(real), "--plan", str(base))),
        ("-o FIFO", cli("export", str(real), "--preset", "backbone", "-o", str(fifo))),
        ("-o symlink", cli("export", str(real), "--preset", "backbone", "-o", str(base / "link.txt"))),
        ("-o directory", cli("export", str(real), "--preset", "backbone", "-o", str(base))),
        ("-o under a file", cli("export", str(real), "--preset", "backbone", "-o", str(victim / "x"))),
        (
            "--gpu-mem inf",
            cli("estimate", str(real), "--preset", "none", "--batch", "16", "--img", "640", "--gpu-mem", "inf"),
        ),
        ("--batch 0", cli("estimate", str(real), "--preset", "none", "--batch", "0", "--img", "640")),
        ("--img -1", cli("estimate", str(real), "--preset", "none", "--batch", "16", "--img", "-1")),
    ]


def data_yaml_cases(base: Path, real: Path) -> list[Case]:
    d = base / "data"
    d.mkdir()
    os.mkfifo(d / "fifo.yaml")
    os.mkfifo(d / "list.txt")
    (d / "bomb.yaml").write_text(
        "\n".join(
            [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
            + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
            + ["names: *l8", "train: a", "val: a", ""]
        )
    )
    (d / "zero.yaml").write_text("train: /dev/zero\nval: /dev/zero\nnames: [a]\n")
    (d / "fifolist.yaml").write_text(f"train: {d / 'list.txt'}\nval: {d / 'list.txt'}\nnames: [a]\n")

    def train(data: Path) -> list[str]:
        return cli("train", str(real), "--data", str(data), "--preset", "none", "--device", "cpu", "--detach")

    return [
        ("data YAML alias bomb", train(d / "bomb.yaml")),
        ("data YAML is a FIFO", train(d / "fifo.yaml")),
        ("data train: /dev/zero", train(d / "zero.yaml")),
        ("data image list FIFO", train(d / "fifolist.yaml")),
    ]


def escape_cases(base: Path, real: Path) -> list[Case]:
    files = escape_files(base / "escape", real)
    picked = [
        "sgr_conceal.pt",
        "fake_verdict.pt",
        "osc52_clipboard.pt",
        "hostile_sgr_conceal.pt",
        "hostile_osc_title.pt",
        "escape_module.pt",
    ]
    return [(f"escape {n}", cli("inspect", str(files[n]))) for n in picked] + [
        ("escape --json lone surrogate", cli("inspect", "--json", str(files["lone_surrogate.pt"]))),
    ]


def output_cases(base: Path, real: Path) -> list[Case]:
    evil = escape_files(base / "escape-out", real)["hostile_sgr_conceal.pt"]
    return [
        ("evil | head -1 (pipefail)", shell('set -o pipefail; "$@" | head -1 >/dev/null', "inspect", str(evil))),
        ("--json | head -c 10", shell('set -o pipefail; "$@" | head -c 10 >/dev/null', "inspect", "--json", str(real))),
        ("stdout closed", shell('"$@" >&-', "inspect", str(evil))),
        ("stdout /dev/full", shell('"$@" >/dev/full', "inspect", str(real))),
        (
            "LANG=C strict ascii",
            shell(
                'PYTHONIOENCODING=ascii:strict LANG=C "$@"', "inspect", str(base / "escape-out" / "lone_surrogate.pt")
            ),
        ),
    ]


def _wait(pid: int, timeout: float) -> tuple[int, resource.struct_rusage]:
    """Reap ``pid`` with its own rusage (peak RSS of that process alone); kill it at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        got, status, usage = os.wait4(pid, os.WNOHANG)
        if got == pid:
            return os.waitstatus_to_exitcode(status), usage
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            _, status, usage = os.wait4(pid, 0)
            return os.waitstatus_to_exitcode(status), usage
        time.sleep(0.005)  # a bench poll between reaps, not a wait for a condition in a test


def run_cases(title: str, cases: list[Case], base: Path) -> float:
    """Run each invocation (2 GiB address-space limit, 60 s timeout); print exit, time, RSS, first line."""
    worst = 0.0
    print(f"\n{title}\n{'case':<34} {'exit':>4} {'wall s':>7} {'RSS MiB':>8}  first line of stderr (or stdout)")
    for name, argv in cases:
        start = time.perf_counter()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as peak:
            # GNU time reports the case's own peak RSS: a child's ru_maxrss starts from its forking
            # parent's peak, and time's is a few MiB where ours would be tens
            timer = ["/usr/bin/time", "-f", "%M", "-o", peak.name] if os.path.exists("/usr/bin/time") else []
            proc = subprocess.Popen([*timer, *argv], stdout=out, stderr=err, preexec_fn=_limit, cwd=ROOT)
            rc, _ = _wait(proc.pid, 60.0)
            wall = time.perf_counter() - start
            text_peak = peak.read().strip().splitlines()
            rss = int(text_peak[-1]) / 1024 if text_peak and text_peak[-1].isdigit() else float("nan")
            out.seek(0)
            err.seek(0)
            text = (err.read() or out.read()).decode("utf-8", "backslashreplace").strip()
        worst = max(worst, wall)
        first = text.splitlines()[0].replace(str(base), "TMP") if text else ""
        lines = len(text.splitlines())
        print(f"{name:<34} {rc:>4} {wall:>7.3f} {rss:>8.1f}  {first[:80]}{' (+more)' if lines > 1 else ''}")
    return worst


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
        files = {
            **broken_files(base / "broken", real),
            **hostile_files(base / "hostile", real, marker),
            **{f"{k}.pt": v for k, v in bypass_files(base / "bypass", real, markers).items()},
            **slow_but_valid_files(base / "valid"),
        }
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
        print(
            f"\n{len(files)} files; slowest {worst:.3f} s (target 2 s); max RSS {worst_rss / 1024:.1f} MiB "
            f"(target 512 MiB); payload ran: {ran}"
        )
        blocks = [
            ("presets", preset_cases),
            ("plan files", plan_cases),
            ("special files, -o targets, option edges", special_file_cases),
            ("data YAMLs (train, validated before anything starts)", data_yaml_cases),
            ("escape payloads", escape_cases),
            ("broken pipe, closed/full stdout, strict terminal", output_cases),
        ]
        for title, block in blocks:
            worst = max(worst, run_cases(title, block(base, real), base))
        print(f"\nslowest of all {worst:.3f} s (target 2 s)")
        print(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
