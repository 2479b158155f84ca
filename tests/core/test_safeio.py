"""Untrusted paths are refused before a byte is read; outputs never replace what the user did not name."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from yolofreeze.core import safeio


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)  # no writer: a plain open() would block forever
    with pytest.raises(safeio.UnsafePathError, match="FIFO"):
        safeio.read_limited(fifo, 1024)


@pytest.mark.parametrize("dev", ["/dev/zero", "/dev/null"])
def test_devices_are_refused(dev: str) -> None:
    with pytest.raises(safeio.UnsafePathError, match="character device"):
        safeio.read_limited(dev, 1024)


def test_directory_and_oversize_are_refused(tmp_path: Path) -> None:
    with pytest.raises(safeio.UnsafePathError, match="directory"):
        safeio.check_regular(tmp_path)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(safeio.UnsafePathError, match="limit"):
        safeio.read_limited(big, 1000)
    assert safeio.read_limited(big, 2000) == b"x" * 2000
    assert safeio.tail_bytes(big, 10) == b"x" * 10


def test_write_atomic_uses_the_umask_and_keeps_an_existing_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        safeio.write_atomic(tmp_path / "new.txt", "a")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o640
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    os.chmod(kept, 0o604)
    safeio.write_atomic(kept, "new")
    assert kept.read_text() == "new"
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o604


def test_write_atomic_refuses_symlinks_devices_and_directories(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "out.txt"
    link.symlink_to(victim)
    with pytest.raises(safeio.UnsafePathError, match="symbolic link"):
        safeio.write_atomic(link, "overwritten")
    assert victim.read_text() == "precious"
    with pytest.raises(safeio.UnsafePathError, match="directory"):
        safeio.write_atomic(tmp_path, "x")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(safeio.UnsafePathError, match="FIFO"):
        safeio.write_atomic(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_full_disk_leaves_the_old_file_and_names_the_device() -> None:
    # /dev/full is refused as a target; ENOSPC itself is turned into the user's message
    e = OSError(28, "No space left on device", "/tmp/x")
    msg = safeio.no_space_message(e, "/tmp/x")
    assert msg is not None and msg.startswith("no space left on ") and "(/tmp/x)" in msg
    assert safeio.no_space_message(OSError(13, "denied")) is None
