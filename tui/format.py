"""Number formatting shared by the CLI and every widget: one way to say a count or a size."""

from __future__ import annotations

import re


def human_count(n: int) -> str:
    """7,235,389 -> '7.24M'; three significant digits from a thousand up."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}" if n / div < 10 else f"{n / div:.1f}{unit}"
    return str(n)


def human_bytes(n: float) -> str:
    """Binary units, one decimal: 14,680,064 -> '14.0 MiB'."""
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


TIMES, MINUS = "\u00d7", "\u2212"  # typographic, as the summary's other figures are


def step_time_text(ratio: float) -> str:
    """A plan's predicted step time against no freezing: 0.6213 -> 'step ≈ 0.62x no freeze (-38%)'
    (with a multiplication sign and a real minus)."""
    change = round((ratio - 1) * 100)
    sign = MINUS if change < 0 else "+" if change > 0 else "±"
    return f"step ≈ {ratio:.2f}{TIMES} no freeze ({sign}{abs(change)}%)"


# Characters a terminal may act on instead of showing: C0 controls (ESC starts SGR/OSC sequences,
# \n could start a fake line), DEL, C1 controls (\x9b is a one-byte CSI on some terminals), Unicode
# format characters (bidi overrides such as U+202E reorder what is shown), line/paragraph
# separators, and lone surrogates (no encoding can write them). Ranges are spelled out, not looked
# up with unicodedata at import (a full scan costs ~0.2 s); tests check them against unicodedata.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
_UNSAFE_KEEP_NEWLINES = re.compile(_UNSAFE.pattern.replace("\x00-\x1f", "\x00-\x09\x0b-\x1f"))


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    if c < 0x100:
        return f"\\x{c:02x}"
    return f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"


def safe_text(s: object, *, keep_newlines: bool = False) -> str:
    """``s`` with every character a terminal could act on written as a visible escape (``\\x1b``).

    The one function for any string that came from a file or a record (class names, module names,
    metadata, paths, error messages quoting file content) before it is printed or shown in a
    widget: nothing in it can move the cursor, hide text, set the title or the clipboard, or
    start a line of its own. ``keep_newlines`` keeps ``\\n`` for multi-line text we laid out.
    The result is plain text, never markup: widgets still take it as ``Text`` or ``markup=False``.
    """
    text = s if isinstance(s, str) else str(s)
    rx = _UNSAFE_KEEP_NEWLINES if keep_newlines else _UNSAFE
    return rx.sub(_escape, text)
