"""The design's import rules, each checked in a fresh interpreter with an empty HOME and XDG dirs.

- core never loads Textual or Rich; the first screen never waits for torch;
- yolov5/ultralytics are imported only through yolofreeze.core.thirdparty: nothing of theirs reaches stdout or
  the user's home (a plain import, tried in the same clean home, provably does both);
- ``estimate --json`` on a machine that never ran it prints JSON only.

The environment is built from scratch, so the developer's ~/.config/Ultralytics (or its absence)
cannot decide the outcome.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import yolofreeze.core

ROOT = Path(__file__).resolve().parents[2]
# anything that would point a library's config or our cache somewhere the test did not choose
SCRUBBED = ("YOLO_", "YOLOV5_", "YOLOv5_", "MPLCONFIGDIR", "YOLOFREEZE_", "XDG_", "HOME")


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    for name in ("CONFIG", "CACHE", "DATA", "STATE"):
        env[f"XDG_{name}_HOME"] = str(tmp_path / "xdg" / name.lower())
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run_python(code: str, tmp_path: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=clean_env(tmp_path), timeout=timeout
    )


def home_files(tmp_path: Path) -> list[str]:
    """Files in the user's HOME and XDG dirs, except our own cache dir (where we put theirs)."""
    ours = tmp_path / "xdg" / "cache" / "yolofreeze-tui"
    found = [*(tmp_path / "home").rglob("*"), *(tmp_path / "xdg").rglob("*")]
    return sorted(str(p.relative_to(tmp_path)) for p in found if p != ours.parent and ours not in (p, *p.parents))


def core_modules_on_disk() -> set[str]:
    """Every module of yolofreeze.core, from the files (independent of how pkgutil walks them)."""
    out = set()
    for p in (ROOT / "core").rglob("*.py"):
        parts = p.relative_to(ROOT / "core").with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts:
            out.add(".".join(("yolofreeze.core", *parts)))
    return out


def test_core_modules_never_import_textual_or_rich(tmp_path: Path) -> None:
    names = [m.name for m in pkgutil.walk_packages(yolofreeze.core.__path__, "yolofreeze.core.")]
    assert set(names) == core_modules_on_disk()  # every module is imported below, not just some
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(bad)\n"
    )
    out = run_python(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# The tracer's internals and the checkpoint builder exist only to run torch code in a child
# process (the estimate child, the demo build), so nothing on the way to a screen loads them.
TORCH_SIDE = {
    "yolofreeze.core.memory.tracing.trace",
    "yolofreeze.core.memory.tracing.cuda_autocast",
    "yolofreeze.core.memory.tracing.skeleton",
    "yolofreeze.core.memory.tracing.metacpu",
    "yolofreeze.core.training.child.build",
    "yolofreeze.core.memory.tracing.validation",
}


def test_importing_core_does_not_import_torch(tmp_path: Path) -> None:
    names = [
        m.name for m in pkgutil.walk_packages(yolofreeze.core.__path__, "yolofreeze.core.") if m.name not in TORCH_SIDE
    ]
    assert {
        "yolofreeze.core.checkpoint.reader",
        "yolofreeze.core.plan.freeze",
        "yolofreeze.core.memory.estimator",
        "yolofreeze.core.training.launch",
        "yolofreeze.core.training.runs",
    } <= set(names)
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(sorted(m for m in ('torch', 'yolov5', 'ultralytics') if m in sys.modules))\n"
    )
    out = run_python(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert home_files(tmp_path) == []


def test_a_plain_yolov5_import_would_print_and_write_home(tmp_path: Path) -> None:
    """The control: what the quiet import prevents really happens in this clean home."""
    out = run_python("import yolov5.models.yolo", tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Creating new Ultralytics Settings" in out.stdout
    assert "xdg/config/Ultralytics/settings.json" in home_files(tmp_path)


def test_the_tracer_imports_yolov5_quietly_and_outside_home(tmp_path: Path) -> None:
    code = (
        "import yolofreeze.core.memory.tracing.trace, yolofreeze.core.memory.tracing.skeleton, sys; "
        "assert 'ultralytics' in sys.modules"
    )
    out = run_python(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert "Ultralytics" not in out.stderr
    assert home_files(tmp_path) == []  # nothing of ultralytics', yolov5's or matplotlib's in HOME
    cache = tmp_path / "xdg" / "cache" / "yolofreeze-tui"
    assert (cache / "ultralytics-config" / "Ultralytics" / "settings.json").is_file()  # it went here


def test_checkpoint_builder_is_quiet_and_outside_home(tmp_path: Path) -> None:
    """The child the demo starts: nothing on stdout, nothing in HOME, a readable checkpoint."""
    out = subprocess.run(
        [sys.executable, "-m", "yolofreeze.core.training.child.build", "yolov5n", str(tmp_path / "n.pt")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean_env(tmp_path),
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert home_files(tmp_path) == []
    from yolofreeze.core.checkpoint.reader import read_checkpoint

    assert read_checkpoint(tmp_path / "n.pt").kind == "yolov5"


def test_demo_checkpoint_is_built_without_torch_in_the_callers_process(tmp_path: Path) -> None:
    code = (
        "import sys; from yolofreeze.core.demo import demo_checkpoint; p = demo_checkpoint(); "
        "print(p.is_file(), p.name, 'torch' in sys.modules)"
    )
    out = run_python(code, tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "demo-yolov5s.pt", "False"]
    assert home_files(tmp_path) == []


def test_a_failed_demo_build_is_one_line(tmp_path: Path) -> None:
    """A cache dir that cannot hold the file: the builder's reason in one line, no traceback."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache dir should be")
    env = dict(clean_env(tmp_path), YOLOFREEZE_CACHE_DIR=str(blocker))
    code = "from yolofreeze.tui.cli import entry; entry()"
    out = subprocess.run(
        [sys.executable, "-c", code, "inspect", "--demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert "cannot build the demo checkpoint" in last and "not-a-dir" in last, out.stderr


def test_estimate_json_on_a_fresh_machine_prints_json_only(yolov5n: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from yolofreeze.tui.cli import entry; entry()",
            "estimate",
            str(yolov5n),
            "--preset",
            "backbone",
            "--batch",
            "8",
            "--img",
            "320",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # the whole of stdout is one JSON document: no banner before it
    assert isinstance(doc, dict) and out.stdout.lstrip().startswith("{")
    assert "Ultralytics" not in out.stderr
    assert home_files(tmp_path) == []
