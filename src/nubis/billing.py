"""AWS Lambda's published price model as pure functions, so nubis can say what a workload would cost.

Model (us-east-1, see docs/billing.md): $0.20 per 1M requests plus a price per GB-second of
configured memory × billed duration (billed duration = duration rounded up to 1 ms, plus the INIT
time on cold starts, billed since 1 Aug 2025). A free tier of 1M requests and 400,000 GB-s applies
per calendar month (UTC). Prices can be changed in `<data_dir>/pricing.toml`.

No I/O except `load_pricing`; everything returns JSON-ready values. `summarize` rounds away float noise
(8.000000000000001e-07 -> 8e-07) and nothing more: money to 12 decimal places, GB-seconds to 13 (a GB-s
figure is MB·ms / 1,024,000, which always ends within 13 decimals, so it stays exact), milliseconds to 6;
rounding for people (cents, 2 decimals) is for display only.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ARCHITECTURES = ("x86_64", "arm64")
PRICING_FILE = "pricing.toml"
FREE_TIER_NOTE = (
    "per-function costs are gross; the monthly free tier (requests and GB-s, calendar month UTC) "
    "is applied to the totals only"
)
_MB_MS_PER_GB_S = 1024 * 1000  # memory_mb * billed_ms / this = GB-seconds


@dataclass(frozen=True, slots=True)
class Pricing:
    """Prices in USD. Defaults are AWS's first-tier us-east-1 prices (the volume tiers above 6 B GB-s
    a month are not modelled: a local server never gets there)."""

    request_price_per_million: float = 0.20
    gb_second_price: float = 0.0000166667  # x86_64
    gb_second_price_arm64: float = 0.0000133334
    free_requests_per_month: float = 1_000_000
    free_gb_seconds_per_month: float = 400_000

    def gb_second_price_for(self, architecture: str) -> float:
        """Price of one GB-s on `architecture` ("x86_64" or "arm64")."""
        if architecture == "x86_64":
            return self.gb_second_price
        if architecture == "arm64":
            return self.gb_second_price_arm64
        raise ValueError(f"unknown architecture {architecture!r} (expected one of {ARCHITECTURES})")

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def load_pricing(data_dir: Path) -> Pricing:
    """Read `<data_dir>/pricing.toml` if it exists (top-level keys = `Pricing` field names), so users
    can model other regions or future prices; missing keys keep AWS's defaults."""
    path = Path(data_dir) / PRICING_FILE
    if not path.is_file():
        return Pricing()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from None
    known = {f.name for f in dataclasses.fields(Pricing)}
    values: dict[str, float] = {}
    for key, value in data.items():
        if key not in known:
            raise ValueError(f"{path}: unknown key {key!r} (known keys: {', '.join(sorted(known))})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{path}: {key} must be a non-negative number, got {value!r}")
        values[key] = value
    return Pricing(**values)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One invocation as metered by the engine. `billed_ms` already includes INIT on cold starts."""

    request_id: str
    function_name: str
    version: str
    start: float  # epoch seconds
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None = None
    cold: bool = False
    outcome: str = "success"
    architecture: str = "x86_64"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UsageRecord:
        """Build from a stored row; unknown keys are ignored so the store may keep extra columns."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def billed_duration_ms(duration_ms: float, init_ms: float | None = None) -> int:
    """AWS's Billed Duration: (duration + init) rounded up to the next 1 ms, at least 1 ms.

    Rounded to a microsecond first so float noise (100.00000000001) does not bill an extra ms."""
    total = duration_ms + (init_ms or 0.0)
    return max(1, math.ceil(round(total, 6)))


def gb_seconds(memory_mb: int, billed_ms: int) -> float:
    """Configured memory in GB × billed seconds (100 ms at 512 MB = 0.05 GB-s)."""
    return memory_mb * billed_ms / _MB_MS_PER_GB_S


def _month(start: float) -> str:
    return datetime.fromtimestamp(start, tz=timezone.utc).strftime("%Y-%m")


class _Acc:
    """Running sums for one group. GB-s are summed as integer MB·ms so totals are exact."""

    __slots__ = ("requests", "billed_ms", "duration_ms", "init_ms", "cold_starts", "mb_ms", "outcomes")

    def __init__(self) -> None:
        self.requests = 0
        self.billed_ms = 0
        self.duration_ms = 0.0
        self.init_ms = 0.0
        self.cold_starts = 0
        self.mb_ms = {a: 0 for a in ARCHITECTURES}
        self.outcomes: dict[str, int] = {}

    def add(self, r: UsageRecord) -> None:
        if r.architecture not in self.mb_ms:
            raise ValueError(f"record {r.request_id}: unknown architecture {r.architecture!r}")
        self.requests += 1
        self.billed_ms += r.billed_ms
        self.duration_ms += r.duration_ms
        self.init_ms += r.init_ms or 0.0
        self.cold_starts += bool(r.cold)
        self.mb_ms[r.architecture] += r.memory_mb * r.billed_ms
        self.outcomes[r.outcome] = self.outcomes.get(r.outcome, 0) + 1

    def gbs(self, arch: str) -> float:
        return self.mb_ms[arch] / _MB_MS_PER_GB_S

    def row(self, p: Pricing) -> dict[str, Any]:
        """Usage and gross cost (no free tier)."""
        request_cost = self.requests * p.request_price_per_million / 1_000_000
        compute_cost = sum(self.gbs(a) * p.gb_second_price_for(a) for a in ARCHITECTURES)
        return {
            "requests": self.requests,
            "billed_ms": self.billed_ms,
            "duration_ms": self.duration_ms,
            "init_ms": self.init_ms,
            "cold_starts": self.cold_starts,
            "outcomes": dict(sorted(self.outcomes.items())),
            "gb_seconds": sum(self.mb_ms.values()) / _MB_MS_PER_GB_S,
            "gb_seconds_x86_64": self.gbs("x86_64"),
            "gb_seconds_arm64": self.gbs("arm64"),
            "request_cost": request_cost,
            "compute_cost": compute_cost,
            "gross_cost": request_cost + compute_cost,
        }

    def free_tier(self, p: Pricing) -> dict[str, float]:
        """Free-tier use and credit for one month: free GB-s go to x86_64 first (the dearer one)."""
        free_requests = min(self.requests, p.free_requests_per_month)
        free_x86 = min(self.gbs("x86_64"), p.free_gb_seconds_per_month)
        free_arm = min(self.gbs("arm64"), p.free_gb_seconds_per_month - free_x86)
        credit = (
            free_requests * p.request_price_per_million / 1_000_000
            + free_x86 * p.gb_second_price
            + free_arm * p.gb_second_price_arm64
        )
        # Net from what is left over (not gross - credit), so a month inside the free tier is exactly 0.
        net = (
            (self.requests - free_requests) * p.request_price_per_million / 1_000_000
            + (self.gbs("x86_64") - free_x86) * p.gb_second_price
            + (self.gbs("arm64") - free_arm) * p.gb_second_price_arm64
        )
        return {
            "free_requests": free_requests,
            "free_gb_seconds": free_x86 + free_arm,
            "free_tier_credit": credit,
            "net_cost": net,
        }


def summarize(records: Iterable[UsageRecord], pricing: Pricing, per_function: bool = True) -> dict[str, Any]:
    """Usage and cost of `records` (any iterable, read once), JSON-ready.

    Returns {"pricing", "note", "functions": [row...] (empty unless per_function),
    "months": [row + free tier...], "totals": row + free_requests/free_gb_seconds/free_tier_credit/net_cost}.
    A row has requests, billed_ms, duration_ms, init_ms, cold_starts, outcomes, gb_seconds
    (+ _x86_64/_arm64), request_cost, compute_cost, gross_cost. Function rows are gross; the free
    tier is computed per calendar month (UTC of `start`) and applied to months and totals only.
    """
    total = _Acc()
    months: dict[str, _Acc] = {}
    functions: dict[str, _Acc] = {}
    for r in records:
        total.add(r)
        months.setdefault(_month(r.start), _Acc()).add(r)
        if per_function:
            functions.setdefault(r.function_name, _Acc()).add(r)

    month_rows = []
    free: dict[str, float] = {"free_requests": 0, "free_gb_seconds": 0.0, "free_tier_credit": 0.0, "net_cost": 0.0}
    for month in sorted(months):
        ft = months[month].free_tier(pricing)
        for k in free:
            free[k] += ft[k]
        month_rows.append({"month": month, **months[month].row(pricing), **ft})

    totals = total.row(pricing)
    totals.update(free)
    return {
        "pricing": pricing.to_dict(),
        "note": FREE_TIER_NOTE,
        "functions": [tidy({"function": name, **functions[name].row(pricing)}) for name in sorted(functions)],
        "months": [tidy(m) for m in month_rows],
        "totals": tidy(totals),
    }


MONEY_DECIMALS = 12
GBS_DECIMALS = 13
MS_DECIMALS = 6


def tidy(row: dict[str, Any]) -> dict[str, Any]:
    """A row with the float noise of its sums rounded away (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, float):
            if key.endswith(("_cost", "_credit")):
                value = round(value, MONEY_DECIMALS)
            elif "gb_seconds" in key:
                value = round(value, GBS_DECIMALS)
            elif key.endswith("_ms"):
                value = round(value, MS_DECIMALS)
            value = value + 0.0  # no -0.0
        out[key] = value
    return out
