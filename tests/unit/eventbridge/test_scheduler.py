"""The scheduler's one timer, driven by a fast clock (a scheduled minute lasts 120 ms here)."""
import asyncio
from datetime import timedelta

from nubis.services.eventbridge.clock import Clock
from nubis.services.eventbridge.scheduler import Scheduler
from nubis.services.eventbridge.store import EventsStore, Rule
from nubis.store.db import Database


def test_fires_due_rules_in_order_and_replans_on_change(tmp_path):
    store = EventsStore(Database(tmp_path / "db"))
    clock = Clock(scale=0.002)
    every_minute = Rule("1", "us-east-1", "default", "m", schedule="cron(* * * * ? *)")
    every_two = Rule("1", "us-east-1", "default", "t", schedule="rate(2 minutes)", anchor=clock.now().timestamp())
    disabled = Rule("1", "us-east-1", "default", "d", schedule="rate(1 minute)", state="DISABLED")
    for r in (every_minute, every_two, disabled):
        store.save_rule(r)
    fired: list[tuple[str, object]] = []

    async def fire(rule, due):
        fired.append((rule.name, due))

    async def run():
        sched = Scheduler(store, fire, clock)
        await sched.start()
        while sum(1 for n, _ in fired if n == "m") < 4:
            await asyncio.sleep(0.01)
        every_minute.state = "DISABLED"
        store.save_rule(every_minute)
        sched.plan(every_minute, every_minute.key)
        count = sum(1 for n, _ in fired if n == "m")
        while sum(1 for n, _ in fired if n == "t") < 3:
            await asyncio.sleep(0.01)
        await sched.stop()
        return count

    count = asyncio.run(run())
    minutes = [due for n, due in fired if n == "m"]
    assert len(minutes) == count  # nothing more after DisableRule
    assert all(d.second == 0 and d.microsecond == 0 for d in minutes)
    # whole minutes apart (a stalled loop skips a minute rather than firing late twice: no back-fill)
    assert all(b > a and (b - a) % timedelta(minutes=1) == timedelta(0) for a, b in zip(minutes, minutes[1:]))
    twos = [due for n, due in fired if n == "t"]
    assert all(b > a and (b - a) % timedelta(minutes=2) == timedelta(0) for a, b in zip(twos, twos[1:]))
    assert not any(n == "d" for n, _ in fired)
