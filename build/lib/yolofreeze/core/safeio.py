"""Opening untrusted paths and writing outputs: one home for both.

Every file the program reads (checkpoints, plans, data YAMLs, image lists, run records, logs) is
untrusted: it may be a FIFO that blocks forever, a device that never ends (/dev/zero), a directory,
or far larger than any real file of its kind. ``open_regular`` refuses anything but a regular file
*before* reading a byte (the FIFO is opened non-blocking, so even opening cannot hang) and
``read_limited`` never reads more than its bound.

Every file the program writes goes through ``write_atomic``: readers never see half a file, a
failure (disk full) leaves the previous file intact, and the target must be a regular file or
absent; a device node, a directory or a symlink is refused rather than replaced. New files get the
mode the user's umask gives, like any other tool's output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO


class UnsafePathError(OSError):
    """A path that is not a regular file (FIFO, device, directory, socket) or is over a size bound."""


def describe_mode(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file (symlinks to one are fine).

    FileNotFoundError / PermissionError propagate as usual; anything that is not a regular file
    raises UnsafePathError. The check is made on the opened descriptor, so a path swapped between a
    check and the open cannot slip through; O_NONBLOCK keeps a FIFO from blocking the open itself.
    """
    p = os.fspath(path)
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(errno.EINVAL, f"refused: {describe_mode(st.st_mode)}, not a regular file", p)
        # back to blocking reads for a regular file (O_NONBLOCK is meaningless there, but be plain)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | os.PathLike[str]) -> int:
    """Raise unless ``path`` is a readable regular file; return its size. Never blocks."""
    with open_regular(path) as f:
        return os.fstat(f.fileno()).st_size


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The whole file, if it is a regular file of at most ``limit`` bytes."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise UnsafePathError(errno.EFBIG, f"refused: {size} bytes, over the {limit}-byte limit", os.fspath(path))
        data = f.read(limit + 1)
    if len(data) > limit:  # the file grew while we read it
        raise UnsafePathError(errno.EFBIG, f"refused: over the {limit}-byte limit", os.fspath(path))
    return data


def read_text_limited(path: str | os.PathLike[str], limit: int) -> str:
    """``read_limited`` decoded as UTF-8 (UnicodeDecodeError propagates)."""
    return read_limited(path, limit).decode("utf-8")


def tail_bytes(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The last ``max_bytes`` of a regular file (logs may be huge; only the end is wanted)."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - max_bytes))
        return f.read(max_bytes)


def _current_umask() -> int:
    # os.umask can only be read by setting it; do it once and restore at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Raise UnsafePathError unless ``path`` may be (re)written as a regular file.

    Refused: an existing device node, FIFO, socket or directory, and a symbolic link (writing
    through it would replace a file the user did not name). An absent path is fine.
    """
    target = Path(path)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(
            errno.EINVAL, f"refused to write: {describe_mode(st.st_mode)}, not a regular file", str(target)
        )
    return target


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, fsync: bool = True) -> None:
    """Write ``data`` so that a reader never sees half of it and a failure leaves the old file.

    The target must be absent or a regular file (see ``check_output_path``). A replaced file keeps
    its mode; a new one gets 0o666 less the umask. On any error (ENOSPC included) the temporary
    file is removed and the error propagates; the previous content is untouched.
    """
    target = check_output_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_current_umask()
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def no_space_message(e: OSError, path: str | os.PathLike[str] | None = None) -> str | None:
    """'no space left on DEVICE (path)' for ENOSPC/EDQUOT, else None."""
    if e.errno not in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return None
    where = os.fspath(path) if path is not None else (e.filename or "?")
    device = "?"
    with contextlib.suppress(OSError, ValueError):
        device = _mount_device(Path(where))
    return f"no space left on {device} ({where})"


def _mount_device(p: Path) -> str:
    """The device of the mount holding ``p`` (from /proc/self/mounts; '?' when unknown)."""
    p = p if p.exists() else p.parent
    dev = os.stat(p).st_dev
    best = ("?", "")
    with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            src, mnt = parts[0], parts[1].replace("\\040", " ")
            with contextlib.suppress(OSError):
                if os.stat(mnt).st_dev == dev and len(mnt) >= len(best[1]):
                    best = (src, mnt)
    return best[0]
