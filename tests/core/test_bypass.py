"""Payloads that slipped past a module-prefix scanner: live under torch.load, inert through us.

Each file is a real checkpoint with one payload added (or, for the legacy format, a side pickle
carrying one). The test proves the payload FIRES under plain ``torch.load(weights_only=False)`` in
a child process (its marker file appears), then that none of our commands runs it: each exits 3,
names the global, and prints no traceback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile_corpus import bypass_files, legacy_side_files
from yolofreeze.core.errors import EXIT_HOSTILE

CLI = [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()"]

# file -> what the hostile report must name
EXPECTED = {
    "argparse_dotted_eval": "argparse.ArgumentParser.__init__.__builtins__.get",
    "yolo_forward_dotted_eval": "models.yolo.DetectionModel.forward.__builtins__.get",
    "types_code_function": "types.FunctionType",
    "detectionmodel_init_eval": "models.yolo.DetectionModel called",
    "ultralytics_yolo_loads_a_file": "ultralytics.YOLO",
    "legacy_magic_pickle": "os.system",
    "legacy_protocol_pickle": "os.system",
    "legacy_sys_info_pickle": "os.system",
    "legacy_storage_keys_pickle": "os.system",
}


def _yolov5_dir() -> str:
    spec = importlib.util.find_spec("yolov5")
    assert spec is not None and spec.submodule_search_locations
    return next(iter(spec.submodule_search_locations))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, yolov5n: Path, ckpt_dir: Path) -> tuple[dict[str, Path], Path]:
    base = tmp_path_factory.mktemp("bypass")
    markers = base / "markers"
    markers.mkdir()
    files = {
        **bypass_files(base / "zip", yolov5n, markers),
        **legacy_side_files(base / "legacy", ckpt_dir / "yolov5n-legacy.pt", markers),
    }
    assert set(files) == set(EXPECTED)
    return files, markers


def _env(home: Path) -> dict[str, str]:
    # ultralytics writes its settings under HOME and must not try the network
    return dict(os.environ, HOME=str(home), YOLO_OFFLINE="1", PYTHONWARNINGS="ignore")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_payload_fires_under_plain_torch_load(corpus: tuple[dict[str, Path], Path], name: str, tmp_path: Path) -> None:
    files, markers = corpus
    marker = markers / f"{name}.marker"
    marker.unlink(missing_ok=True)
    # models.* is importable the way a yolov5 clone makes it: its folder on sys.path
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); import torch\n"
        "try:\n    torch.load(sys.argv[1], weights_only=False)\nexcept Exception:\n    pass\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(files[name]), _yolov5_dir()],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert marker.exists(), f"{name}: the payload did not run under torch.load; the corpus proves nothing"
    marker.unlink()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_payload_never_fires_through_our_commands(
    corpus: tuple[dict[str, Path], Path], name: str, tmp_path: Path
) -> None:
    files, markers = corpus
    path = str(files[name])
    commands = {
        "inspect": ["inspect", path],
        "inspect --json": ["inspect", "--json", path],
        "export": ["export", path, "--preset", "backbone"],
        "estimate": ["estimate", path, "--preset", "backbone", "--batch", "2", "--img", "64", "--gpu-mem", "8"],
    }
    for label, args in commands.items():
        r = subprocess.run(
            [*CLI, *args], capture_output=True, text=True, timeout=60, cwd=Path.cwd(), env=_env(tmp_path)
        )
        assert r.returncode == EXIT_HOSTILE, (name, label, r.returncode, r.stderr[-500:])
        assert "Traceback" not in r.stderr, (name, label, r.stderr[-800:])
        assert len(r.stderr.strip().splitlines()) <= 1, (name, label, r.stderr)
        if label == "inspect --json":
            assert EXPECTED[name] in json.loads(r.stdout)["suspicious_globals"], (name, r.stdout[:300])
        else:
            assert EXPECTED[name] in r.stdout + r.stderr, (name, label, r.stdout[-300:], r.stderr)
    assert not any(markers.iterdir()), f"{name}: a payload ran: {list(markers.iterdir())}"
