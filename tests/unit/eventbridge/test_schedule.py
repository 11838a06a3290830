"""EventBridge schedule expressions: parsing and next firing times (UTC)."""
from datetime import datetime, timezone

import pytest

from nubis.services.eventbridge.schedule import InvalidSchedule, next_fire, parse


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=timezone.utc)


def nxt(expr: str, after: datetime) -> datetime | None:
    return next_fire(expr, after, after)


@pytest.mark.parametrize("expr", [
    "rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(1 week)", "rate(1  minute)", "rate(-1 minute)",
    "cron(0 12 * * * *)", "cron(0 12 ? * ? *)", "cron(0 12 * *)", "cron(60 12 * * ? *)", "cron(0 24 * * ? *)",
    "cron(0 12 32 * ? *)", "cron(0 12 ? * 8 *)", "cron(0 12 ? FOO * *)", "cron(a b c d e f)", "every 5 minutes",
    "cron(0 12 * * ? 1969)", "cron(0/0 * * * ? *)",
])
def test_invalid_expressions_are_refused(expr):
    with pytest.raises(InvalidSchedule):
        parse(expr)


def test_rate_counts_from_its_anchor():
    anchor = utc(2026, 1, 1, 0, 0, 30)
    assert next_fire("rate(1 minute)", anchor, anchor) == utc(2026, 1, 1, 0, 1, 30)
    assert next_fire("rate(5 minutes)", utc(2026, 1, 1, 0, 12), anchor) == utc(2026, 1, 1, 0, 15, 30)
    assert next_fire("rate(2 hours)", utc(2026, 1, 1, 3), anchor) == utc(2026, 1, 1, 4, 0, 30)
    assert next_fire("rate(1 day)", utc(2026, 1, 3), anchor) == utc(2026, 1, 3, 0, 0, 30)


def test_cron_basics_lists_ranges_steps():
    assert nxt("cron(* * * * ? *)", utc(2026, 3, 1, 10, 0, 30)) == utc(2026, 3, 1, 10, 1)
    assert nxt("cron(0 10 * * ? *)", utc(2026, 3, 1, 10, 0)) == utc(2026, 3, 2, 10, 0)
    assert nxt("cron(15,45 8-9 * * ? *)", utc(2026, 3, 1, 8, 20)) == utc(2026, 3, 1, 8, 45)
    assert nxt("cron(0/20 * * * ? *)", utc(2026, 3, 1, 8, 41)) == utc(2026, 3, 1, 9, 0)
    assert nxt("cron(0 0 1 JAN,JUL ? *)", utc(2026, 3, 1)) == utc(2026, 7, 1)
    assert nxt("cron(0 0 1 1 ? 2030)", utc(2026, 3, 1)) == utc(2030, 1, 1)
    assert nxt("cron(0 0 1 1 ? 2020)", utc(2026, 3, 1)) is None


def test_cron_days_of_week_are_sun_1_to_sat_7():
    # 2026-03-02 is a Monday
    assert nxt("cron(0 18 ? * MON-FRI *)", utc(2026, 3, 6, 19)) == utc(2026, 3, 9, 18)  # Fri evening -> Mon
    assert nxt("cron(0 0 ? * 1 *)", utc(2026, 3, 2)) == utc(2026, 3, 8)  # 1 = Sunday
    assert nxt("cron(0 0 ? * 7 *)", utc(2026, 3, 2)) == utc(2026, 3, 7)  # 7 = Saturday


def test_cron_l_w_and_hash():
    assert nxt("cron(0 0 L * ? *)", utc(2026, 2, 10)) == utc(2026, 2, 28)
    assert nxt("cron(0 0 L * ? *)", utc(2028, 2, 10)) == utc(2028, 2, 29)
    # the 15th of Aug 2026 is a Saturday: nearest weekday is Friday the 14th
    assert nxt("cron(0 0 15W * ? *)", utc(2026, 8, 1)) == utc(2026, 8, 14)
    # 1W when the 1st is a Saturday (Aug 2026): Monday the 3rd, not July
    assert nxt("cron(0 0 1W * ? *)", utc(2026, 7, 31)) == utc(2026, 8, 3)
    # last weekday of May 2026 (31st is a Sunday): Friday the 29th
    assert nxt("cron(0 0 LW * ? *)", utc(2026, 5, 1)) == utc(2026, 5, 29)
    # third Monday of March 2026 = 16th; last Friday of March 2026 = 27th
    assert nxt("cron(0 0 ? * 2#3 *)", utc(2026, 3, 1)) == utc(2026, 3, 16)
    assert nxt("cron(0 0 ? * 6L *)", utc(2026, 3, 1)) == utc(2026, 3, 27)
