"""The scheduler's clock. Schedule time is UTC wall time; `scale` < 1 makes it run faster than real
time (NUBIS_SCHEDULE_SCALE=0.01: a scheduled minute passes in 0.6 s), so tests can watch `rate(1 minute)`
and `cron(* * * * ? *)` rules fire through the real firing path without waiting real minutes."""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone


class Clock:
    def __init__(self, scale: float = 1.0, origin: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("schedule scale must be positive")
        self.scale = scale
        self.origin = time.time() if origin is None else origin

    @classmethod
    def from_env(cls) -> Clock:
        text = os.environ.get("NUBIS_SCHEDULE_SCALE", "").strip()
        try:
            return cls(float(text) if text else 1.0)
        except ValueError:
            raise SystemExit(f"nubis server: NUBIS_SCHEDULE_SCALE must be a positive number (not {text!r})") from None

    def now(self) -> datetime:
        real = time.time()
        return datetime.fromtimestamp(self.origin + (real - self.origin) / self.scale, timezone.utc)

    def seconds_until(self, when: datetime) -> float:
        """Real seconds to wait until schedule time `when`."""
        return (when - self.now()).total_seconds() * self.scale
