"""The async invocation queue: durable before 202, delivered in the background, at least once.

An event is written to the store before the caller gets 202; it is deleted only after a
delivery finished. A server killed mid-delivery delivers it again after restart.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from collections.abc import Awaitable, Callable

import orjson

from ..store.queue import DurableQueue, QueueItem

log = logging.getLogger("nubis.events.async")



@dataclass(frozen=True, slots=True)
class Retry:
    """Deliver again later: after `delay_s` (None: the throttle backoff), with an updated event if given."""

    delay_s: float | None = None
    event: dict | None = None


Deliver = Callable[[dict], Awaitable[Retry | None]]  # None: done, the item is removed

THROTTLE_BACKOFF_MAX_S = 300.0
POLL_S = 1.0


class AsyncInvokeQueue:
    def __init__(self, queue: DurableQueue, max_in_flight: int = 64) -> None:
        self.queue = queue
        self.deliver: Deliver | None = None
        self.max_in_flight = max_in_flight
        self._wake = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self._in_flight: set[asyncio.Task] = set()
        self._stopping = False

    async def put(self, event: dict) -> None:
        await self.queue.put(orjson.dumps(event))
        self._wake.set()

    async def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop taking new events; let deliveries in progress finish (unfinished ones stay queued)."""
        self._stopping = True
        self._wake.set()
        if self._runner:
            await self._runner
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            room = self.max_in_flight - len(self._in_flight)
            items = self.queue.claim(room) if room > 0 else []
            for item in items:
                task = asyncio.get_running_loop().create_task(self._one(item))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if items and room - len(items) > 0:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            except asyncio.TimeoutError:
                pass

    async def _one(self, item: QueueItem) -> None:
        assert self.deliver is not None
        try:
            outcome = await self.deliver(orjson.loads(item.body))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("async delivery of queue item %s failed; will retry", item.id)
            outcome = Retry()
        if outcome is None:
            self.queue.ack(item.id)
        else:
            delay = outcome.delay_s
            if delay is None:  # throttled or a system error: 1 s growing to 5 min, as Lambda does
                delay = min(THROTTLE_BACKOFF_MAX_S, 2.0 ** min(item.attempts - 1, 9))
            self.queue.retry_later(item.id, delay, orjson.dumps(outcome.event) if outcome.event else None)
        self._wake.set()
