"""Inside the training process only: keep YOLOv5's train.py off the network and alive on today's releases.

Each fix sits where its cause arises (each one seen running the pip package yolov5 7.0.14's train.py
on a machine without network; the calls are in its ``utils/general.py`` and ``utils/downloads.py``):
- ``check_font`` downloads Arial.ttf into YOLOV5_CONFIG_DIR → a local TrueType font is placed there
  first (matplotlib's DejaVu Sans, a yolov5 dependency), and ``check_font`` never downloads.
- ``attempt_download_from_hub`` asks the Hugging Face hub about the weights → HF_HUB_OFFLINE=1 (set by
  the launcher), an absolute path, and the lookup replaced by "not on the hub".
- ``check_requirements`` may pip-install packages, ``check_git_status``/``check_online`` open sockets,
  ultralytics' import does DNS lookups (YOLO_OFFLINE=1 stops it) → replaced by no-ops.
- ``check_amp`` on CUDA downloads yolov5n.pt when its first comparison fails → our own comparison on
  the run's model, no fallback download.
- Pillow 10 removed ``FreeTypeFont.getsize``, which yolov5's plots call → a shim built on ``getbbox``,
  added only when missing and only in this process. Plots stay on: label plots, confusion matrix and
  results.png are what a user looks at after a run, and the shim is two lines.
- ``torch.load`` defaults to ``weights_only=True`` → lifted only for files inside the run's own
  folders (the checkpoint we rebuilt, train.py's last.pt/best.pt), never globally.

``forbid_network`` (tests) makes any non-loopback connection or DNS lookup fail and leaves a record.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


# Warnings the user cannot act on, about code that is not theirs: train.py 7.0.x enters
# `torch.cuda.amp.autocast(amp)` around every forward and builds `torch.cuda.amp.GradScaler`, which
# torch >= 2.4 reports as deprecated; yolov5's utils import pkg_resources, which setuptools reports.
# In a training log they bury the lines that matter (and reprint wherever warnings are reset).
KNOWN_NOISE = (
    (FutureWarning, r"`torch\.cuda\.amp\.(autocast|GradScaler)\(args\.\.\.\)` is deprecated"),
    (UserWarning, r"pkg_resources is deprecated as an API"),
)


def quiet_known_warnings() -> None:
    """Ignore exactly the warnings in KNOWN_NOISE; every other warning is still printed."""
    for category, message in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)


def prepare_config_dir(config_dir: Path) -> Path:
    """A YOLOV5_CONFIG_DIR with the fonts yolov5 would otherwise download."""
    config_dir.mkdir(parents=True, exist_ok=True)
    source = _local_font()
    for name in FONT_NAMES:
        target = config_dir / name
        if source is not None and not target.exists():
            tmp = target.with_suffix(".tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
    return config_dir


def _local_font() -> Path | None:
    try:
        import matplotlib

        cand = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        return cand if cand.is_file() else None
    except ImportError:
        return None


def pillow_getsize_shim() -> bool:
    """Give FreeTypeFont a ``getsize`` again if this Pillow lacks it; True when added."""
    from PIL import ImageFont

    if hasattr(ImageFont.FreeTypeFont, "getsize"):
        return False

    def getsize(self: Any, text: str, *args: Any, **kwargs: Any) -> tuple[int, int]:
        # Old getsize returned (right, bottom) of the text box, offset included.
        _, _, right, bottom = self.getbbox(text, *args, **kwargs)
        return int(right), int(bottom)

    ImageFont.FreeTypeFont.getsize = getsize  # type: ignore[attr-defined]
    return True


def _check_font(font: Any = "Arial.ttf", progress: bool = False) -> None:
    from urllib.error import URLError

    name = Path(str(font)).name
    cfg = Path(os.environ.get("YOLOV5_CONFIG_DIR", ""))
    if not Path(str(font)).exists() and not (cfg / name).exists():
        # check_pil_font falls back to PIL's default font on URLError: the offline path it knows.
        raise URLError(f"offline: {name} not available locally")


def _no_op(*args: Any, **kwargs: Any) -> None:
    return None


def _offline_false(*args: Any, **kwargs: Any) -> bool:
    return False


def check_amp_offline(model: Any) -> bool:
    """AMP on CUDA when fp32 and autocast forward passes agree on the run's own model."""
    import copy

    import torch

    device = next(model.parameters()).device
    if device.type in ("cpu", "mps"):
        return False
    try:
        m = copy.deepcopy(model).eval()
        x = torch.rand(1, 3, 256, 256, device=device)
        with torch.no_grad():
            a = m(x)[0].float()
            with torch.autocast("cuda"):
                b = m(x)[0].float()
        ok = bool(a.shape == b.shape and torch.allclose(a, b, atol=0.1 * float(a.abs().max()) + 1e-3))
    except Exception as e:
        print(f"AMP: check failed ({type(e).__name__}: {e}), disabling Automatic Mixed Precision", flush=True)
        return False
    print(
        f"AMP: checks {'passed' if ok else 'failed, disabling Automatic Mixed Precision'} (offline check)",
        flush=True,
    )
    return ok


REPLACEMENTS: dict[str, Callable[..., Any]] = {
    "check_requirements": _no_op,
    "check_git_status": _no_op,
    "check_online": _offline_false,
    "is_online": _offline_false,
    "check_font": _check_font,
    "check_amp": check_amp_offline,
    "attempt_download_from_hub": _no_op,
}


def patch_modules(roots: tuple[str, ...], files_under: Path | None = None) -> list[str]:
    """Replace the network-reaching helpers in every loaded module of yolov5 (pip or clone)."""
    done = []
    for modname, mod in list(sys.modules.items()):
        if mod is None:
            continue
        inside = modname.split(".")[0] in roots
        if not inside and files_under is not None:
            f = getattr(mod, "__file__", None) or ""
            inside = bool(f) and Path(f).resolve().is_relative_to(files_under)
        if not inside:
            continue
        for name, repl in REPLACEMENTS.items():
            if callable(getattr(mod, name, None)) and getattr(mod, name) is not repl:
                setattr(mod, name, repl)
                done.append(f"{modname}.{name}")
    return done


def narrow_torch_load(allowed_dirs: Callable[[], list[Path]]) -> None:
    """torch.load with weights_only=False only for files under our own run folders."""
    import torch

    original = torch.load
    if getattr(original, "_yolofreeze", False):
        return

    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(f, str | os.PathLike) and "weights_only" not in kwargs:
            p = Path(f).resolve()
            if any(p.is_relative_to(d) for d in allowed_dirs()):
                kwargs["weights_only"] = False
        return original(f, *args, **kwargs)

    load._yolofreeze = True  # type: ignore[attr-defined]
    torch.load = load


def forbid_network(record: Path) -> None:
    """Tests: every non-loopback connect or DNS lookup fails with ENETUNREACH and is written down."""

    def local(host: Any) -> bool:
        h = str(host)
        return h in ("localhost", "", "::1", "0.0.0.0") or h.startswith("127.")

    def note(what: str) -> None:
        with open(record, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {what}\n")

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
            note(f"connect {address!r}")
            raise OSError(errno.ENETUNREACH, "network blocked by yolofreeze test guard")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
            note(f"connect_ex {address!r}")
            return errno.ENETUNREACH
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not local(host):
            note(f"getaddrinfo {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, "name resolution blocked by yolofreeze test guard")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo


# Free space below which a failed save is reported as "disk full": torch's own errors on a full
# disk are "unexpected pos …" / "basic_ios::clear", which name neither the cause nor the path.
_NEARLY_FULL = 1 << 20


def atomic_torch_save() -> None:
    """torch.save to a path writes a temporary file beside it and renames it over the target.

    train.py saves last.pt/best.pt with a plain ``torch.save(ckpt, last)`` (and strip_optimizer
    rewrites them in place): a full disk or a kill mid-write would leave a truncated last.pt over
    the last good one. With this, a failed save leaves the previous file intact; a failure on a
    (nearly) full file system is raised as OSError(ENOSPC) naming the target.
    """
    import tempfile

    import torch

    original = torch.save
    if getattr(original, "_yolofreeze_atomic", False):
        return

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if not isinstance(f, (str, os.PathLike)):
            original(obj, f, *args, **kwargs)
            return
        target = Path(f)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            original(obj, tmp, *args, **kwargs)
            os.replace(tmp, target)
        except BaseException as e:
            full = _nearly_full(target.parent)
            # The traceback's frames hold torch's open zip writer: until they let go, the unlinked
            # temporary file keeps its blocks, and the status write that follows finds no room.
            _release_frames(e)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(e, Exception) and full and not (isinstance(e, OSError) and e.errno == errno.ENOSPC):
                raise OSError(errno.ENOSPC, "No space left on device", str(target)) from e
            raise

    save._yolofreeze_atomic = True  # type: ignore[attr-defined]
    torch.save = save


def _release_frames(e: BaseException) -> None:
    """Drop the locals of every frame in ``e``'s traceback chain (torch's writer among them)."""
    import gc

    seen: set[int] = set()
    x: BaseException | None = e
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        traceback.clear_frames(x.__traceback__)
        x = x.__cause__ or x.__context__
    gc.collect()  # the writer may sit in a reference cycle


def _nearly_full(directory: Path) -> bool:
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < _NEARLY_FULL
