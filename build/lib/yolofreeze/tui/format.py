"""Number formatting shared by the CLI and every widget: one way to say a count or a size."""

from __future__ import annotations


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
