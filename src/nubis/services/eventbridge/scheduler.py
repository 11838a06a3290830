"""Fires scheduled rules: one timer, for the rule due next.

Enabled rules with a ScheduleExpression are loaded from the store at start; PutRule, Enable/Disable and
DeleteRule re-plan a rule and wake the timer. A fire computes the rule's next time from max(due, now),
so a rule that fell due while the server was down (or stalled) is not back-filled, as on AWS."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from .clock import Clock
from .schedule import InvalidSchedule, next_fire
from .store import EventsStore, Rule

log = logging.getLogger("nubis.events")
FireFn = Callable[[Rule, datetime], Awaitable[None]]


class Scheduler:
    def __init__(self, store: EventsStore, fire: FireFn, clock: Clock) -> None:
        self.store = store
        self.fire = fire
        self.clock = clock
        self._due: dict[tuple[str, str, str, str], tuple[datetime, Rule]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._firing: set[asyncio.Task] = set()

    def _next(self, rule: Rule, after: datetime) -> datetime | None:
        try:
            # an anchor ahead of the clock (the clock was stepped back, or a faster test clock restarted)
            # counts from now
            anchor = min(datetime.fromtimestamp(rule.anchor, timezone.utc), after)
            return next_fire(rule.schedule or "", after, anchor)
        except InvalidSchedule:
            return None

    def plan(self, rule: Rule | None, key: tuple[str, str, str, str]) -> None:
        """(Re)plan one rule after a change (None or not enabled/scheduled: forget it)."""
        self._due.pop(key, None)
        if rule is not None and rule.schedule and rule.state == "ENABLED":
            due = self._next(rule, self.clock.now())
            if due is not None:
                self._due[key] = (due, rule)
        self._wake.set()

    def forget_bus(self, account: str, region: str, bus: str) -> None:
        for key in [k for k in self._due if k[:3] == (account, region, bus)]:
            self.plan(None, key)

    async def start(self) -> None:
        for rule in self.store.scheduled_rules():
            self.plan(rule, rule.key)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for t in list(self._firing):
            t.cancel()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self._due:
                await self._wake.wait()
                continue
            key, (due, rule) = min(self._due.items(), key=lambda kv: kv[1][0])
            delay = self.clock.seconds_until(due)
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
                continue  # woken by a change, or the time has come: look again
            nxt = self._next(rule, max(due, self.clock.now()))
            if nxt is None:
                del self._due[key]
            else:
                self._due[key] = (nxt, rule)
            task = asyncio.create_task(self._fire(rule, due))
            self._firing.add(task)
            task.add_done_callback(self._firing.discard)

    async def _fire(self, rule: Rule, due: datetime) -> None:
        try:
            await self.fire(rule, due)
        except Exception:  # a failed fire must not stop the schedule
            log.exception("events: scheduled rule %s failed to fire", rule.arn)
