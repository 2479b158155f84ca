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
from dataclasses import replace
from pathlib import Path

import pytest

from tests.hostile_corpus import broken_files, hostile_files, payloads, slow_but_valid_files
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.checkpoint.safepickle import check_view
from yolofreeze.core.errors import EXIT_HOSTILE, EXIT_UNREADABLE, CheckpointError, HostileCheckpointError
from yolofreeze.core.training.verify import tensor_array

CLI = [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()"]


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
    subprocess.run(
        [sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
        input=data,
        check=False,
        timeout=20,
    )
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


def test_slow_but_valid_files_read_in_linear_time(tmp_path: Path) -> None:
    """20,000 layers (was 62 s) and a layer numbered 200,000,000 (was > 6 GB) read quickly."""
    files = slow_but_valid_files(tmp_path)
    for name, path in files.items():
        for extra in ([], ["--json"]):
            start = time.monotonic()
            r = _limited_run([*CLI, "inspect", *extra, str(path)])
            assert r.returncode == 0, (name, r.stderr)
            assert time.monotonic() - start < 15, name  # a hang guard; the bench measures the 2 s target
    many = read_checkpoint(files["layers_20k.safetensors"])
    assert len(many.layers) == 20_000 and many.layer_params[19_999] == 1
    far = read_checkpoint(files["layer_200M.safetensors"])
    assert far.layers == ()  # an index far beyond what the file holds is no layer list
    assert [p.name for p in far.parameters] == ["model.0.conv.weight", "model.200000000.conv.weight"]


def test_tensor_views_are_checked_against_their_storage() -> None:
    assert check_view(0, (2, 3), (3, 1), 4, 24) is None
    assert check_view(0, (0, 5), (5, 1), 4, 0) is None  # empty: reads nothing
    assert "runs past" in (check_view(1, (2, 3), (3, 1), 4, 24) or "")
    assert "runs past" in (check_view(0, (4,), (100,), 4, 16) or "")
    assert "out of range" in (check_view(-1, (1,), (1,), 4, 16) or "")
    assert "differ in length" in (check_view(0, (1, 1), (1,), 4, 16) or "")


def test_after_run_check_refuses_a_view_past_the_buffer(yolov5n: Path) -> None:
    """A stride past the end is one CheckpointError, never a read of foreign memory or a segfault."""
    info = read_checkpoint(yolov5n)
    t = info.parameters[0]
    assert t.location is not None
    assert tensor_array(yolov5n, t).shape == t.shape  # the real view reads fine
    bad = replace(t, location=replace(t.location, stride=tuple(s * 1000 for s in t.location.stride)))
    with pytest.raises(CheckpointError, match="runs past its storage"):
        tensor_array(yolov5n, bad)
    late = replace(t, location=replace(t.location, offset=t.location.storage_nbytes))
    with pytest.raises(CheckpointError, match="runs past its storage"):
        tensor_array(yolov5n, late)


def test_special_files_are_refused_before_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    for path, what in ((Path("/dev/zero"), "character device"), (fifo, "FIFO")):
        start = time.monotonic()
        r = _limited_run([*CLI, "inspect", str(path)])
        assert r.returncode == EXIT_UNREADABLE and what in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert time.monotonic() - start < 15


def test_every_pickle_budget_failure_is_one_line_and_fast(corpus: dict[str, object]) -> None:
    broken: dict[str, Path] = corpus["broken"]  # type: ignore[assignment]
    expect = {
        "zip_bomb_8g.pt": "opcodes",
        "zip_bomb_at_budget.pt": "opcodes",
        "zip_bomb_honest.pt": "too large",
        "dup_bomb.pt": "opcodes",
        "huge_list.pt": "opcodes",
        "memo_index_bomb.pt": "memo index",
        "int_5000_digits.pt": "4300 digits",
        "int_huge_binary.pt": "too large",
        "zip_encrypted.pt": "encrypted",
        "zip_unknown_method.pt": "compression method 99",
        "zip_corrupt_deflate.pt": "corrupt deflate",
        "zip_corrupt_lzma.pt": "corrupt lzma",
        "zip_corrupt_bzip2.pt": "corrupt bzip2",
        "bad_stride.pt": "runs past its storage",
        "safetensors_deep_name.safetensors": "too deep",
    }
    assert broken["zip_bomb_8g.pt"].stat().st_size < 10_000_000  # 8 GiB once inflated
    for name, text in expect.items():
        start = time.monotonic()
        with pytest.raises(CheckpointError, match=text):
            read_checkpoint(broken[name])
        assert time.monotonic() - start < 10, name  # a hang guard; the bench measures the 2 s target
