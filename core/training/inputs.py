"""One rebuilt copy of each input checkpoint, shared by every run that trains from the same file.

Every run trains from ``input.pt``, a checkpoint we rebuilt from the user's file (never the file
itself). For yolov5x that is 170 MB per run, so the rebuilt copy is kept once per content, at
``<state>/inputs/<sha256 of the user's file>.pt``, and each run's ``input.pt`` is a hard link to it:
the run folder refers to the copy, the bytes are on disk once, and ``torch.load`` still reads a
file inside the run folder.

The copy is never trusted blindly: beside it, ``<sha>.json`` records the SHA-256 of the copy as it
was written, and a run reusing it hashes it first; a copy that changed on disk is rebuilt.
A lock file per content serialises the build (DDP ranks, two runs started together) and the
prune, so a copy is never removed between a run's check and its link.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from yolofreeze.core.training.runs import write_json_atomic

INPUTS = "inputs"


def inputs_root_for(run_dir: Path) -> Path:
    """The shared store beside ``runs/``, in the same state directory (so hard links work)."""
    return run_dir.resolve().parent.parent / INPUTS


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Provided:
    """What ``provide_input`` did, for the run's log."""

    source_sha256: str
    shared: Path
    how: str  # "built", "reused", "rebuilt" (the stored copy had changed), "private" (no hard link)

    def describe(self) -> str:
        return {
            "built": f"stored the rebuilt checkpoint once for its content at {self.shared}",
            "reused": f"reused the rebuilt checkpoint stored for this content at {self.shared}",
            "rebuilt": f"the stored copy at {self.shared} had changed on disk (hash mismatch); rebuilt it",
            "private": f"{self.shared.parent} cannot be hard-linked from the run folder; the run keeps its own copy",
        }[self.how]


@contextlib.contextmanager
def content_lock(root: Path, sha: str, blocking: bool = True) -> Iterator[bool]:
    """Holds ``<sha>.lock``; yields False (without waiting) when not ``blocking`` and it is held."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / f"{sha}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _sidecar(shared: Path) -> Path:
    return shared.with_suffix(".json")


def _intact(shared: Path) -> bool | None:
    """True: the copy hashes as recorded; False: it changed; None: there is no usable copy."""
    if not shared.is_file():
        return None
    try:
        recorded = json.loads(_sidecar(shared).read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(file_sha256(shared) == recorded)


def provide_input(target: Path, source: str, build: Callable[[Path], object], root: Path) -> Provided:
    """Make ``target`` the rebuilt copy of ``source``: a hard link to the shared one, built only once.

    ``build(path)`` writes the rebuilt checkpoint to ``path``. The source is hashed here, as the
    trainer reads it, so a file replaced after the launch gets its own copy.
    """
    sha = file_sha256(source)
    shared = root / f"{sha}.pt"
    with content_lock(root, sha):
        state = _intact(shared)
        how = "reused"
        if state is not True:
            how = "built" if state is None else "rebuilt"
            fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{sha}.", suffix=".pt")
            os.close(fd)
            try:
                build(Path(tmp))
                write_json_atomic(_sidecar(shared), {"sha256": file_sha256(tmp), "source": str(source)})
                os.replace(tmp, shared)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        link_tmp = target.with_name(f".{target.name}.link")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link_tmp)
        try:
            os.link(shared, link_tmp)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copyfile(shared, link_tmp)
            how = "private"
        os.replace(link_tmp, target)
    write_json_atomic(target.with_name("input.json"), {"source_sha256": sha, "shared": str(shared), "how": how})
    return Provided(sha, shared, how)


@dataclass(frozen=True)
class StoredInput:
    path: Path
    bytes: int


def unused_inputs(root: Path) -> list[StoredInput]:
    """Stored copies that no run folder links any more (only the store's own link is left)."""
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.glob("*.pt")):
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if st.st_nlink == 1:
            out.append(StoredInput(p, st.st_size))
    return out


def remove_unused_inputs(root: Path, dry_run: bool = False) -> list[StoredInput]:
    """Remove the copies no remaining run refers to; one being linked right now is left alone."""
    removed = []
    for item in unused_inputs(root):
        sha = item.path.stem
        with content_lock(root, sha, blocking=False) as held:
            if not held:
                continue  # a run is building or linking it at this moment
            try:
                if os.lstat(item.path).st_nlink != 1:
                    continue  # linked since we looked
                if not dry_run:
                    os.unlink(item.path)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(_sidecar(item.path))
            except OSError:
                continue
        removed.append(item)  # the empty lock file stays: unlinking it would race with a new locker
    return removed


__all__ = [
    "Provided",
    "StoredInput",
    "file_sha256",
    "inputs_root_for",
    "provide_input",
    "remove_unused_inputs",
    "unused_inputs",
]
