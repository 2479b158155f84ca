"""Nothing a file says reaches the terminal as a control sequence; the HOSTILE verdict cannot be hidden.

Payloads (tests/escape_corpus.py) are real checkpoints with one string changed. Each is shown to be
live first (plain torch.load hands the raw escape sequence to whoever prints it), then shown to
come out of our commands escaped: the plain table, the JSON, and every output error path
(broken pipe, closed stdout, full stdout, a strict ASCII terminal).
"""

from __future__ import annotations

import json
import os
import pickletools
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest

from tests.escape_corpus import ESC, HOSTILE_CLASS_PAYLOADS, PAYLOADS, escape_files
from yolofreeze.tui.format import safe_text

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()"]


def cli(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*CLI, *args], capture_output=True, timeout=120, cwd=ROOT, env={**os.environ, **(env or {})}, **kw
    )


def raw_controls(out: bytes) -> list[str]:
    """Characters in the output a terminal would act on (newlines between our own lines excepted)."""
    text = out.decode("utf-8", errors="surrogateescape")
    return [c for c in text if c != "\n" and (unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp"))]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, yolov5n: Path) -> dict[str, Path]:
    return escape_files(tmp_path_factory.mktemp("escape"), yolov5n)


def test_safe_text_escapes_every_control_format_and_surrogate_character() -> None:
    unsafe = [c for c in map(chr, range(0x110000)) if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    assert len(unsafe) > 2000  # C0, C1, bidi and other format characters, all surrogates
    missed = [f"U+{ord(c):04X}" for c in unsafe if safe_text(c) == c]
    assert missed == []
    assert safe_text(f"a{ESC}[8mb\u202ec\udcff\x9b") == "a\\x1b[8mb\\u202ec\\udcff\\x9b"
    assert safe_text("ümlaut — café …") == "ümlaut — café …"  # ordinary text is left alone
    assert safe_text("a\nb", keep_newlines=True) == "a\nb" and safe_text("a\nb") == "a\\x0ab"


def test_the_payloads_are_live_under_plain_torch_load(files: dict[str, Path]) -> None:
    """What a user's own script prints: the raw sequences (the same bytes `inspect` used to print)."""
    script = (
        "import sys, torch\n"
        "for p in sys.argv[1:]:\n"
        "    ck = torch.load(p, map_location='cpu', weights_only=False)\n"
        "    sys.stdout.buffer.write(ck['model'].names[0].encode('utf-8', 'surrogatepass') + b'|')\n"
    )
    names = ["sgr_conceal.pt", "osc_title.pt", "osc52_clipboard.pt", "fake_verdict.pt", "c1_csi.pt"]
    r = subprocess.run(
        [sys.executable, "-c", script, *(str(files[n]) for n in names)],
        capture_output=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout.decode("utf-8", "surrogatepass")
    for n in names:
        assert PAYLOADS[n.removesuffix(".pt")] in out
    # a class named with escapes: the unpickler hands the raw name to find_class (what a
    # scanner or a loader that prints the globals it met would print)
    with zipfile.ZipFile(files["hostile_sgr_conceal.pt"]) as zf:
        pkl = zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))
    globals_seen = {str(arg) for op, arg, _ in pickletools.genops(pkl) if op.name == "GLOBAL"}
    assert f"os system{ESC}[8m" in globals_seen


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_inspect_shows_class_names_escaped(files: dict[str, Path], name: str) -> None:
    r = cli("inspect", str(files[f"{name}.pt"]))
    assert r.returncode == 0, r.stderr
    assert raw_controls(r.stdout) == []
    line = next(ln for ln in r.stdout.decode().splitlines() if ln.startswith("classes"))
    assert safe_text(PAYLOADS[name]) in line  # visible, escaped, on the classes line
    assert not any(ln.startswith("verdict") for ln in r.stdout.decode().splitlines())


@pytest.mark.parametrize("name", sorted(HOSTILE_CLASS_PAYLOADS))
def test_a_hostile_verdict_cannot_be_hidden(files: dict[str, Path], name: str) -> None:
    r = cli("inspect", str(files[f"{name}.pt"]))
    assert r.returncode == 3
    assert raw_controls(r.stdout) == []
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("HOSTILE") and safe_text("os." + HOSTILE_CLASS_PAYLOADS[name]) in lines[0]
    assert lines[-1].startswith("HOSTILE")  # and again last, after everything the file contributed


@pytest.mark.parametrize("name", ["sgr_conceal", "fake_verdict", "del_and_bidi", "lone_surrogate", "markup"])
def test_inspect_json_is_ascii_and_round_trips_the_exact_strings(files: dict[str, Path], name: str) -> None:
    r = cli("inspect", "--json", str(files[f"{name}.pt"]))
    assert r.returncode == 0, r.stderr
    body = r.stdout.rstrip(b"\n")
    assert all(0x20 <= b < 0x7F for b in body)  # not even DEL, C1 or a bidi override gets through raw
    doc = json.loads(body)
    assert doc["metadata"]["names"][0] == PAYLOADS[name]  # escaped on the wire, exact when parsed


def test_module_names_are_escaped_in_json_and_table(files: dict[str, Path]) -> None:
    r = cli("inspect", "--json", str(files["escape_module.pt"]))
    assert r.returncode == 0 and all(0x20 <= b < 0x7F for b in r.stdout.rstrip(b"\n"))
    names = [p["name"] for p in json.loads(r.stdout)["parameters"]]
    assert f"model.0.conv{ESC}[8m{ESC}]0;pwned-title\x07.weight" in names


def test_broken_pipe_keeps_the_exit_code_without_a_traceback(files: dict[str, Path]) -> None:
    evil = str(files["hostile_sgr_conceal.pt"])
    # the reader is gone before the first write: every write gets EPIPE
    proc = subprocess.Popen([*CLI, "inspect", evil], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 3
    assert b"Traceback" not in err and b"BrokenPipe" not in err
    # and as a user types it
    sh = subprocess.run(
        ["bash", "-c", 'set -o pipefail; "$@" | head -1', "sh", *CLI, "inspect", evil],
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )
    assert sh.returncode == 3
    assert sh.stdout.decode().startswith("HOSTILE") and b"Traceback" not in sh.stderr


@pytest.mark.parametrize("evil", [False, True])
def test_closed_stdout_is_one_line_and_the_real_exit_code(files: dict[str, Path], yolov5n: Path, evil: bool) -> None:
    path = files["hostile_sgr_conceal.pt"] if evil else yolov5n
    r = subprocess.run(
        ["bash", "-c", '"$@" >&-', "sh", *CLI, "inspect", str(path)], capture_output=True, timeout=120, cwd=ROOT
    )
    assert r.returncode == (3 if evil else 0)
    assert r.stderr.decode().strip() == "yolofreeze-tui: stdout is closed: the output was not written"


@pytest.mark.parametrize("evil", [False, True])
def test_full_stdout_is_one_line_and_not_success(files: dict[str, Path], yolov5n: Path, evil: bool) -> None:
    path = files["hostile_sgr_conceal.pt"] if evil else yolov5n
    with open("/dev/full", "w") as full:  # only as the child's stdout: nothing here replaces the node
        r = subprocess.run([*CLI, "inspect", str(path)], stdout=full, stderr=subprocess.PIPE, timeout=120, cwd=ROOT)
    assert r.returncode == (3 if evil else 1)  # output was lost: never 0
    assert r.stderr.decode().strip() == "yolofreeze-tui: cannot write the output: No space left on device"


def test_strict_ascii_terminal_and_undecodable_file_names(files: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / os.fsdecode(b"model-\xff\xfe.pt")  # not UTF-8: Python hands it over as lone surrogates
    odd.write_bytes(files["lone_surrogate.pt"].read_bytes())
    for env in ({"LANG": "C", "LC_ALL": "C"}, {"PYTHONIOENCODING": "ascii:strict"}, {}):
        r = cli("inspect", os.fsencode(odd).decode("utf-8", "surrogateescape"), env=env)
        assert r.returncode == 0, (env, r.stderr)
        assert b"Traceback" not in r.stderr and r.stderr == b""
        out = r.stdout.decode("ascii", errors="replace") if env else r.stdout.decode()
        assert "model-\\udcff\\udcfe.pt" in out.splitlines()[0]
        assert "person\\udcff\\ud800" in out
    r = cli("inspect", str(tmp_path / os.fsdecode(b"missing-\xff.pt")), env={"PYTHONIOENCODING": "ascii:strict"})
    assert r.returncode == 1 and r.stderr.decode().strip().endswith("missing-\\udcff.pt: no such file")


def test_error_messages_that_quote_a_plan_file_are_escaped(yolov5n: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.txt"
    plan.write_text(f"model.0.conv{ESC}]0;pwned{ESC}\\.weight\n")
    r = cli("export", str(yolov5n), "--plan", str(plan))
    assert r.returncode == 2
    assert raw_controls(r.stderr) == [] and len(r.stderr.splitlines()) == 1
    assert b"conv\\x1b]0;pwned\\x1b\\.weight" in r.stderr


def test_names_export_of_escape_names_round_trips_exactly(files: dict[str, Path], tmp_path: Path) -> None:
    """Output hygiene is for terminals: a file written with -o keeps the exact names, so it loads back."""
    src = files["escape_module.pt"]
    out = tmp_path / "plan.names"
    r = cli("export", str(src), "--preset", "first:2", "--format", "names", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert f"model.0.conv{ESC}[8m".encode() in out.read_bytes()
    r2 = cli("export", str(src), "--plan", str(out), "--format", "yolov5")
    assert r2.returncode == 0 and r2.stdout.strip() == b"--freeze 2"
