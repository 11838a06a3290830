"""Output helpers for the nubis CLI: a column-aligned table, number/money formats, JSON dumping.

Kept apart from cli.py and free of dependencies so they are cheap to import and easy to test."""
from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """Render rows as a plain-text table: columns two spaces apart, headers on top.

    `align` gives one letter per column, "l" or "r" (missing letters mean "l"); numbers read better
    right-aligned. Cells are str()-ed; None shows as "-". No trailing spaces, no final newline."""
    cells = [[("-" if c is None else str(c)) for c in row] for row in [list(headers), *rows]]
    ncols = max(len(r) for r in cells)
    for r in cells:
        r.extend([""] * (ncols - len(r)))
    widths = [max(len(r[i]) for r in cells) for i in range(ncols)]
    lines = []
    for r in cells:
        parts = [
            c.rjust(w) if (align[i:i + 1] or "l") == "r" else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def kv_block(pairs: Sequence[tuple[str, Any]], indent: int = 2, right: bool = False) -> str:
    """`key  value` lines with the values aligned (right-aligned for columns of numbers)."""
    width = max((len(k) for k, _ in pairs), default=0)
    values = ["-" if v is None else str(v) for _, v in pairs]
    vwidth = max((len(v) for v in values), default=0) if right else 0
    return "\n".join(f"{' ' * indent}{k.ljust(width)}  {v.rjust(vwidth)}".rstrip()
                     for (k, _), v in zip(pairs, values))


def money_decimals(amounts: Iterable[float]) -> int:
    """One number of decimals for every amount of a report, so they read alike and line up: cents, or
    as many as an amount below a cent needs to show up to four significant digits (one request is
    $0.0000002), at most 12."""
    decimals = 2
    for usd in amounts:
        usd = abs(usd)
        if 0 < usd < 0.01:
            places = min(12, 3 - math.floor(math.log10(usd)))
            decimals = max(decimals, len(f"{usd:.{places}f}".rstrip("0").split(".")[1]))
    return decimals


def fmt_money(usd: float, decimals: int | None = None) -> str:
    """Dollars for people, with `decimals` places (default: what `money_decimals` picks for this one)."""
    decimals = money_decimals([usd]) if decimals is None else decimals
    sign = "-" if round(usd, decimals) < 0 else ""
    return f"{sign}${abs(usd):,.{decimals}f}"


def fmt_price(usd: float) -> str:
    """A unit price, exactly as configured ($0.0000166667), never in exponent notation."""
    whole, frac = f"{usd:.12f}".rstrip("0").split(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def fmt_int(n: float) -> str:
    return f"{int(n):,}"


def gbs_decimals(values: Iterable[float]) -> int:
    """One number of decimals for a column of GB-seconds, so it lines up: three, or six when a value is
    below 0.001 (1 ms at 128 MB is 0.000125 GB-s)."""
    return 6 if any(0 < abs(v) < 0.001 for v in values) else 3


def fmt_gbs(gbs: float, decimals: int | None = None) -> str:
    """GB-seconds with `decimals` places (default: what `gbs_decimals` picks for this one)."""
    decimals = gbs_decimals([gbs]) if decimals is None else decimals
    return f"{gbs:,.{decimals}f}"


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def dump_json(doc: Any, out: IO[str] | None = None) -> None:
    """Write one JSON document (indented, UTF-8 as is) and a newline; datetimes become strings."""
    out = out or sys.stdout
    out.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")


def strip_metadata(response: dict[str, Any]) -> dict[str, Any]:
    """A boto3 response without botocore's ResponseMetadata: what `--json` users want."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}
