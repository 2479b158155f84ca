"""Hostile and broken files: no payload runs, a one-line error, the right exit code, quickly."""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from core.checkpoint import read_checkpoint
from core.errors import EXIT_HOSTILE, EXIT_UNREADABLE, CheckpointError, HostileCheckpointError
from tests.hostile_corpus import broken_files, hostile_files, payloads

CLI = [sys.executable, "-c", "from tui.cli import entry; entry()"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, yolov5n: Path) -> dict[str, object]:
    base = tmp_path_factory.mktemp("corpus")
    marker = base / "PWNED"
    return {
        "marker": marker,
        "broken": broken_files(base / "broken", yolov5n),
        "hostile": hostile_files(base / "hostile", yolov5n, marker),
    }


def _limited_run(args: list[str]) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # bounded memory: a bomb that expands would die here, not pass
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run(args, capture_output=True, text=True, timeout=20, preexec_fn=limit)


def test_payload_is_live_under_a_real_unpickler(tmp_path: Path) -> None:
    """The corpus is a real threat: plain pickle.loads runs it (in a child process)."""
    marker = tmp_path / "PWNED"
    data = b"\x80\x02" + payloads(marker)["os_system"] + b"."
    subprocess.run([sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
                   input=data, check=False, timeout=20)
    assert marker.exists()


def test_no_payload_runs_and_each_is_named(corpus: dict[str, object]) -> None:
    marker = corpus["marker"]
    hostile: dict[str, Path] = corpus["hostile"]  # type: ignore[assignment]
    assert isinstance(marker, Path)
    for name, path in hostile.items():
        if name.endswith("_in_model.pt"):
            info = read_checkpoint(path)
            assert info.hostile, name
            assert info.parameters, f"{name}: the real model inside should still be readable"
        else:
            with pytest.raises(HostileCheckpointError) as exc:
                read_checkpoint(path)
            assert "hostile" in str(exc.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("os_system_in_model.pt", "os.system"),
        ("posix_system_in_model.pt", "posix.system"),
        ("subprocess_popen_in_model.pt", "subprocess.Popen"),
        ("builtins_eval_in_model.pt", "builtins.eval"),
        ("builtins_exec_in_model.pt", "builtins.exec"),
        ("py2_builtin_eval_in_model.pt", "__builtin__.eval"),
        ("getattr_chain_in_model.pt", "builtins.getattr"),
        ("pkgutil_resolve_in_model.pt", "pkgutil.resolve_name"),
        ("importlib_import_in_model.pt", "importlib.import_module"),
        ("runpy_in_model.pt", "runpy._run_code"),
        ("numpy_runstring_in_model.pt", "numpy.testing._private.utils.runstring"),
        ("torch_hub_load_in_model.pt", "torch.hub.load"),
    ],
)
def test_cli_reports_hostile_globals_by_name(corpus: dict[str, object], name: str, expected: str) -> None:
    path = corpus["hostile"][name]  # type: ignore[index]
    r = _limited_run([*CLI, "inspect", str(path)])
    assert r.returncode == EXIT_HOSTILE
    assert expected in r.stdout
    assert "Traceback" not in r.stderr
    assert "parameters 1,872,157" in r.stdout  # what could be read is still shown
    assert not Path(corpus["marker"]).exists()  # type: ignore[arg-type]


def test_every_broken_file_gets_one_line_exit_1_quickly(corpus: dict[str, object]) -> None:
    broken: dict[str, Path] = corpus["broken"]  # type: ignore[assignment]
    for name, path in broken.items():
        if name == "laughs_in_model.pt":
            continue  # readable: the bomb sits in metadata, see the next test
        start = time.monotonic()
        r = _limited_run([*CLI, "inspect", str(path)])
        elapsed = time.monotonic() - start
        assert r.returncode == EXIT_UNREADABLE, (name, r.stderr)
        assert r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("yolofreeze-tui: "), (name, r.stderr)
        assert "Traceback" not in r.stderr
        assert elapsed < 15, (name, elapsed)  # a hang guard; bench/bad_input_speed.py measures the 2 s target


def test_reader_is_fast_on_bombs(corpus: dict[str, object]) -> None:
    broken: dict[str, Path] = corpus["broken"]  # type: ignore[assignment]
    for name in ("deep_nesting.pt", "laughs.pt", "laughs_in_model.pt", "huge_storage.pt"):
        start = time.monotonic()
        with contextlib.suppress(CheckpointError):
            read_checkpoint(broken[name])
        # a hang guard, not the speed target (bench/bad_input_speed.py measures the 2 s target)
        assert time.monotonic() - start < 10.0, name


def test_shared_reference_bomb_in_metadata_is_bounded(corpus: dict[str, object]) -> None:
    info = read_checkpoint(corpus["broken"]["laughs_in_model.pt"])  # type: ignore[index]
    assert len(info.parameters) == 177
    r = _limited_run([*CLI, "inspect", "--json", str(corpus["broken"]["laughs_in_model.pt"])])  # type: ignore[index]
    assert r.returncode == 0
    assert len(r.stdout) < 5_000_000


def test_missing_file_and_directory_messages(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        read_checkpoint(tmp_path)


def test_unreadable_permissions(tmp_path: Path, yolov5n: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    p = tmp_path / "locked.pt"
    p.write_bytes(yolov5n.read_bytes())
    p.chmod(0)
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(p)


def test_torchscript_archive_is_named(tmp_path: Path) -> None:
    p = tmp_path / "scripted.pt"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("scripted/constants.pkl", pickle.dumps(()))
        zf.writestr("scripted/code/__torch__.py", "")
    with pytest.raises(CheckpointError, match="TorchScript"):
        read_checkpoint(p)
