"""EventBridge schedule expressions: `rate(N unit)` and six-field `cron(...)`, evaluated in UTC.

Cron fields are minutes, hours, day-of-month, month, day-of-week and year, with AWS's wildcards:
`,` `-` `*` `/` in every field, `?` in day-of-month or day-of-week (one of the two must be `?`),
`L` (last day of the month; `<d>L` the last weekday d of the month), `W` (nearest weekday, `LW` the
last weekday of the month) and `#` (`<d>#<n>`: the n-th weekday d of the month). Days of the week
run 1-7 from SUN; months and days may be named (JAN-DEC, SUN-SAT).
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                       "NOV", "DEC"), 1)}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_MAX_YEAR = 2199


class InvalidSchedule(ValueError):
    """The expression is not a valid EventBridge schedule expression."""


def _int(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise InvalidSchedule(text)
    value = int(text)
    if not lo <= value <= hi:
        raise InvalidSchedule(text)
    return value


def _values(field: str, lo: int, hi: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The set a plain field (numbers, names, `*`, ranges, lists, steps) stands for."""
    out: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = _int(step_text, 1, hi) if slash else 1
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _int(a, lo, hi, names), _int(b, lo, hi, names)
        else:
            start = _int(base, lo, hi, names)
            end = hi if slash else start
        if start <= end:
            out.update(range(start, end + 1, step))
        else:  # a wrapping range such as FRI-MON or 22-2
            span = list(range(start, hi + 1)) + list(range(lo, end + 1))
            out.update(span[::step])
    return frozenset(out)


@dataclass(frozen=True)
class _DaySpec:
    """Day-of-month or day-of-week rules; `any_` means `*` or `?`."""

    any_: bool = False
    values: frozenset[int] = frozenset()
    last: bool = False  # dom L
    last_weekday: bool = False  # dom LW
    nearest_weekday: int = 0  # dom nW
    last_dow: int = 0  # dow nL
    nth: tuple[int, int] | None = None  # dow d#n


def _dom(field: str) -> _DaySpec:
    if field in ("*", "?"):
        return _DaySpec(any_=True)
    if field == "L":
        return _DaySpec(last=True)
    if field == "LW":
        return _DaySpec(last_weekday=True)
    if field.endswith("W") and field[:-1].isdigit():
        return _DaySpec(nearest_weekday=_int(field[:-1], 1, 31))
    return _DaySpec(values=_values(field, 1, 31))


def _dow(field: str) -> _DaySpec:
    if field in ("*", "?"):
        return _DaySpec(any_=True)
    if field.endswith("L") and len(field) > 1:
        return _DaySpec(last_dow=_int(field[:-1], 1, 7, _DAYS))
    if "#" in field:
        d, _, n = field.partition("#")
        return _DaySpec(nth=(_int(d, 1, 7, _DAYS), _int(n, 1, 5)))
    return _DaySpec(values=_values(field, 1, 7, _DAYS))


def _aws_dow(d: date) -> int:
    return (d.weekday() + 1) % 7 + 1  # Monday=0 in Python; SUN=1 ... SAT=7 in AWS


def _nearest_weekday(year: int, month: int, day: int) -> int:
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    wd = date(year, month, day).weekday()
    if wd == 5:  # Saturday: Friday, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if wd == 6:  # Sunday: Monday, unless that leaves the month
        return day + 1 if day < last else day - 2
    return day


def _day_matches(d: date, dom: _DaySpec, dow: _DaySpec) -> bool:
    last = calendar.monthrange(d.year, d.month)[1]
    if not dom.any_:
        if dom.last:
            return d.day == last
        if dom.last_weekday:
            lw = last
            while date(d.year, d.month, lw).weekday() >= 5:
                lw -= 1
            return d.day == lw
        if dom.nearest_weekday:
            return d.day == _nearest_weekday(d.year, d.month, dom.nearest_weekday)
        return d.day in dom.values
    if not dow.any_:
        wd = _aws_dow(d)
        if dow.last_dow:
            return wd == dow.last_dow and d.day + 7 > last
        if dow.nth:
            return wd == dow.nth[0] and (d.day - 1) // 7 + 1 == dow.nth[1]
        return wd in dow.values
    return True


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: _DaySpec
    months: frozenset[int]
    dow: _DaySpec
    years: frozenset[int]

    def next_after(self, t: datetime) -> datetime | None:
        """The first firing time strictly after t (UTC, whole minutes); None when there is none left."""
        start = (t.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1))
        d = start.date()
        first = True
        while d.year <= _MAX_YEAR:
            if d.year not in self.years:
                d, first = date(d.year + 1, 1, 1), False
                continue
            if d.month not in self.months:
                d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
                first = False
                continue
            if _day_matches(d, self.dom, self.dow):
                from_minute = start.hour * 60 + start.minute if first else 0
                for h in sorted(self.hours):
                    for m in sorted(self.minutes):
                        if h * 60 + m >= from_minute:
                            return datetime(d.year, d.month, d.day, h, m, tzinfo=timezone.utc)
            d, first = d + timedelta(days=1), False
        return None


@dataclass(frozen=True)
class Rate:
    period_s: int

    def next_after(self, t: datetime, anchor: datetime) -> datetime:
        """The first anchor + k*period strictly after t (k >= 1)."""
        elapsed = (t - anchor).total_seconds()
        k = max(1, int(elapsed // self.period_s) + 1)
        return anchor + timedelta(seconds=k * self.period_s)


def parse(expression: str) -> Rate | Cron:
    """Parse a ScheduleExpression; InvalidSchedule if EventBridge would refuse it."""
    m = _RATE.fullmatch(expression)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n <= 0 or (n == 1) != (not unit.endswith("s")):
            raise InvalidSchedule(expression)  # rate(1 minutes) and rate(5 minute) are refused, as by AWS
        return Rate(n * _UNIT_S[unit.rstrip("s")])
    if not (expression.startswith("cron(") and expression.endswith(")")):
        raise InvalidSchedule(expression)
    fields = expression[5:-1].split()
    if len(fields) != 6:
        raise InvalidSchedule(expression)
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise InvalidSchedule(expression)  # exactly one of day-of-month and day-of-week is '?'
    try:
        cron = Cron(_values(minute, 0, 59), _values(hour, 0, 23), _dom(dom), _values(month, 1, 12, _MONTHS),
                    _dow(dow), _values(year, 1970, _MAX_YEAR))
    except ValueError:
        raise InvalidSchedule(expression) from None
    return cron


def next_fire(expression: str, after: datetime, anchor: datetime) -> datetime | None:
    """When a rule with this expression next fires after `after` (rate schedules count from `anchor`)."""
    sched = parse(expression)
    if isinstance(sched, Rate):
        return sched.next_after(after, anchor)
    return sched.next_after(after)
