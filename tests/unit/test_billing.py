"""The AWS Lambda price model: GB-s, 1 ms rounding, monthly free tier, arm64, pricing.toml."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pytest

from nubis.billing import (
    FREE_TIER_NOTE,
    Pricing,
    UsageRecord,
    billed_duration_ms,
    gb_seconds,
    load_pricing,
    summarize,
)

JAN_31_LAST_SECOND = datetime(2025, 1, 31, 23, 59, 59, 999000, tzinfo=timezone.utc).timestamp()
FEB_1_MIDNIGHT = datetime(2025, 2, 1, 0, 0, 0, tzinfo=timezone.utc).timestamp()


def rec(fn: str = "f", *, start: float = FEB_1_MIDNIGHT, billed_ms: int = 100, memory_mb: int = 128,
        arch: str = "x86_64", cold: bool = False, outcome: str = "success", n: int = 0) -> UsageRecord:
    return UsageRecord(request_id=f"r{n}", function_name=fn, version="$LATEST", start=start,
                       duration_ms=billed_ms - 0.5, billed_ms=billed_ms, memory_mb=memory_mb, max_memory_mb=40,
                       init_ms=None, cold=cold, outcome=outcome, architecture=arch)


def test_seed_example_100ms_at_512mb_is_0_05_gb_s():
    assert gb_seconds(512, 100) == 0.05
    doc = summarize([rec(billed_ms=100, memory_mb=512)], Pricing())
    assert doc["totals"]["gb_seconds"] == 0.05
    assert doc["totals"]["compute_cost"] == pytest.approx(0.05 * 0.0000166667, rel=1e-12)


def test_gb_seconds_of_many_records_sum_exactly():
    # 1 ms at 128 MB, 10,000 times: summed as integer MB*ms, so no float drift.
    doc = summarize((rec(billed_ms=1, n=i) for i in range(10_000)), Pricing(), per_function=False)
    assert doc["totals"]["gb_seconds"] == 10_000 * 128 / 1024 / 1000


def test_billed_duration_rounds_up_to_1_ms_and_includes_init():
    assert billed_duration_ms(3.01) == 4
    assert billed_duration_ms(28.0) == 28
    assert billed_duration_ms(100.00000000001) == 100  # float noise is not a millisecond
    assert billed_duration_ms(0.0) == 1  # AWS bills at least 1 ms
    assert billed_duration_ms(3031.25, init_ms=1294.01) == 4326  # AWS's own REPORT example


def test_costs_of_a_simple_workload():
    p = Pricing()
    records = [rec(billed_ms=1000, memory_mb=1024, n=i) for i in range(3)]
    t = summarize(records, p)["totals"]
    assert t["requests"] == 3
    assert t["billed_ms"] == 3000
    assert t["gb_seconds"] == 3.0
    assert t["request_cost"] == pytest.approx(3 * 0.20 / 1e6)
    assert t["compute_cost"] == pytest.approx(3 * 0.0000166667)
    assert t["gross_cost"] == pytest.approx(t["request_cost"] + t["compute_cost"])
    # all inside the free tier
    assert t["free_tier_credit"] == pytest.approx(t["gross_cost"])
    assert t["net_cost"] == 0.0


def test_arm64_is_priced_separately():
    p = Pricing()
    t = summarize([rec(billed_ms=1000, memory_mb=1024, arch="arm64")], p)["totals"]
    assert t["gb_seconds_arm64"] == 1.0 and t["gb_seconds_x86_64"] == 0.0
    assert t["compute_cost"] == pytest.approx(0.0000133334)
    with pytest.raises(ValueError, match="architecture"):
        summarize([rec(arch="riscv")], p)


def test_per_function_rows_are_gross_and_sorted():
    records = [rec("b", n=1, cold=True), rec("a", n=2), rec("b", n=3, outcome="error")]
    doc = summarize(records, Pricing())
    assert [f["function"] for f in doc["functions"]] == ["a", "b"]
    b = doc["functions"][1]
    assert b["requests"] == 2 and b["cold_starts"] == 1
    assert b["outcomes"] == {"error": 1, "success": 1}
    assert b["gross_cost"] > 0 and "net_cost" not in b
    assert doc["note"] == FREE_TIER_NOTE and "totals only" in doc["note"]
    assert summarize(records, Pricing(), per_function=False)["functions"] == []
    json.dumps(doc)  # JSON-ready


def test_free_tier_is_per_calendar_month_utc():
    # A free tier of 2 requests a month: 3 requests on Jan 31 and 3 on Feb 1 -> 1 billable in each.
    p = Pricing(free_requests_per_month=2, free_gb_seconds_per_month=0)
    jan = [rec(start=JAN_31_LAST_SECOND, n=i) for i in range(3)]
    feb = [rec(start=FEB_1_MIDNIGHT, n=10 + i) for i in range(3)]
    doc = summarize(jan + feb, p)
    months = {m["month"]: m for m in doc["months"]}
    assert set(months) == {"2025-01", "2025-02"}
    for m in months.values():
        assert m["requests"] == 3 and m["free_requests"] == 2
    t = doc["totals"]
    assert t["free_requests"] == 4
    one_request = 0.20 / 1e6
    compute = t["compute_cost"]
    assert t["net_cost"] == pytest.approx(2 * one_request + compute)
    # All six in one month would leave 4 billable: the month boundary matters.
    same_month = summarize([rec(start=FEB_1_MIDNIGHT, n=i) for i in range(6)], p)["totals"]
    assert same_month["net_cost"] == pytest.approx(4 * one_request + compute)


def test_free_gb_seconds_go_to_x86_first_then_arm():
    # 10,240 MB for 900 s = 9,000 GB-s per record.
    p = Pricing()
    x86 = [rec(billed_ms=900_000, memory_mb=10240, n=i) for i in range(40)]  # 360,000 GB-s
    arm = [rec(billed_ms=900_000, memory_mb=10240, arch="arm64", n=100 + i) for i in range(10)]  # 90,000
    t = summarize(x86 + arm, p)["totals"]
    assert t["gb_seconds"] == 450_000
    assert t["free_gb_seconds"] == 400_000
    # x86 fully free, 40,000 of the arm GB-s free, 50,000 arm GB-s billed; requests all free.
    assert t["net_cost"] == pytest.approx(50_000 * 0.0000133334)
    assert t["free_tier_credit"] == pytest.approx(360_000 * 0.0000166667 + 40_000 * 0.0000133334 + 50 * 0.2 / 1e6)
    assert t["gross_cost"] - t["free_tier_credit"] == pytest.approx(t["net_cost"])


def test_free_tier_does_not_carry_over_between_months():
    p = Pricing()
    big = dict(billed_ms=900_000, memory_mb=10240)  # 9,000 GB-s
    jan = [rec(start=JAN_31_LAST_SECOND, n=i, **big) for i in range(50)]  # 450,000: 50,000 billable
    feb = [rec(start=FEB_1_MIDNIGHT, n=100 + i, **big) for i in range(10)]  # 90,000: all free
    t = summarize(jan + feb, p)["totals"]
    assert t["free_gb_seconds"] == 400_000 + 90_000
    assert t["net_cost"] == pytest.approx(50_000 * 0.0000166667)


def test_empty_usage():
    doc = summarize([], Pricing())
    assert doc["totals"]["requests"] == 0 and doc["totals"]["net_cost"] == 0.0
    assert doc["functions"] == [] and doc["months"] == []


def test_default_pricing_is_aws_us_east_1():
    p = Pricing()
    assert (p.request_price_per_million, p.gb_second_price, p.gb_second_price_arm64) == (0.20, 0.0000166667, 0.0000133334)
    assert (p.free_requests_per_month, p.free_gb_seconds_per_month) == (1_000_000, 400_000)
    # Sanity check against the seed's claim: $1 buys ~60,000 GB-s, not 600,000.
    assert math.isclose(1 / p.gb_second_price, 60_000, rel_tol=1e-3)


def test_load_pricing_defaults_and_override(tmp_path: Path):
    assert load_pricing(tmp_path) == Pricing()
    (tmp_path / "pricing.toml").write_text("gb_second_price = 0.00002\nfree_requests_per_month = 0\n")
    p = load_pricing(tmp_path)
    assert p.gb_second_price == 0.00002 and p.free_requests_per_month == 0
    assert p.gb_second_price_arm64 == 0.0000133334  # untouched keys keep the default
    t = summarize([rec(billed_ms=1000, memory_mb=1024)], p)["totals"]
    assert t["compute_cost"] == pytest.approx(0.00002)
    assert summarize([], p)["pricing"]["gb_second_price"] == 0.00002


@pytest.mark.parametrize("text, match", [
    ("gb_seconds_price = 1\n", "unknown key 'gb_seconds_price'"),
    ("gb_second_price = 'cheap'\n", "gb_second_price must be a non-negative number"),
    ("gb_second_price = -1\n", "non-negative"),
    ("gb_second_price = true\n", "non-negative number"),
    ("gb_second_price = \n", "not valid TOML"),
])
def test_load_pricing_rejects_bad_files(tmp_path: Path, text: str, match: str):
    (tmp_path / "pricing.toml").write_text(text)
    with pytest.raises(ValueError, match=match):
        load_pricing(tmp_path)


def test_usage_record_round_trips_through_dicts():
    r = rec(cold=True)
    data = {**r.to_dict(), "extra_column": 1}
    assert UsageRecord.from_dict(data) == r


def test_json_figures_carry_no_float_noise():
    """4 requests cost 0.2 * 4 / 1e6 = 8.000000000000001e-07 in floats; the document says 8e-07. GB-s stay
    exact even at an odd memory size (129 MB * 1 ms = 0.0001259765625 GB-s, 13 decimals)."""
    assert 4 * 0.20 / 1_000_000 != 8e-07  # the noise this guards against
    doc = summarize([rec(billed_ms=1, memory_mb=129, n=i) for i in range(4)], Pricing())
    text = json.dumps(doc)
    assert "000000000000" not in text and "99999999999" not in text, text
    for row in (doc["totals"], doc["functions"][0], doc["months"][0]):
        assert row["request_cost"] == 8e-07
        assert row["gb_seconds"] == 4 * 0.0001259765625 == 0.00050390625
        assert row["gross_cost"] == round(8e-07 + 0.00050390625 * 0.0000166667, 12)
        assert row["duration_ms"] == 2.0  # 4 x 0.5
    assert doc["totals"]["net_cost"] == 0.0 and doc["totals"]["free_tier_credit"] == doc["totals"]["gross_cost"]
