"""Concurrency accounting: account (scope) limit, reserved pools, throttling.

Per scope (e.g. ``account/region``) at most ``limit`` invocations are in
flight. A function with reserved concurrency ``n`` owns a pool of exactly
``n`` (0 throttles everything) carved out of the scope's limit; functions
without a reservation share what is left (``limit - sum(reserved)``). Full
means throttled at once: there is no queue.
"""

from __future__ import annotations

from .types import Throttled


class _Scope:
    __slots__ = ("limit", "reserved", "reserved_sum", "reserved_inflight", "unreserved_inflight")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reserved: dict[str, int] = {}
        self.reserved_sum = 0
        self.reserved_inflight: dict[str, int] = {}
        self.unreserved_inflight = 0

    def set_reserved(self, function_arn: str, n: int | None) -> None:
        old = self.reserved.pop(function_arn, None)
        if old is not None:
            self.reserved_sum -= old
        if n is not None:
            n = max(0, int(n))
            self.reserved[function_arn] = n
            self.reserved_sum += n

    @property
    def unreserved_limit(self) -> int:
        return max(0, self.limit - self.reserved_sum)

    @property
    def in_flight(self) -> int:
        return self.unreserved_inflight + sum(self.reserved_inflight.values())


class Lease:
    """One concurrent execution; release exactly once."""

    __slots__ = ("scope", "function_arn", "released")

    def __init__(self, scope: _Scope, function_arn: str | None) -> None:
        self.scope = scope
        self.function_arn = function_arn  # None: taken from the unreserved pool
        self.released = False

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        sc = self.scope
        arn = self.function_arn
        if arn is None:
            sc.unreserved_inflight -= 1
        else:
            n = sc.reserved_inflight.get(arn, 0) - 1
            if n > 0:
                sc.reserved_inflight[arn] = n
            else:
                sc.reserved_inflight.pop(arn, None)


class ConcurrencyLimiter:
    def __init__(self, account_concurrency: int) -> None:
        self.account_concurrency = account_concurrency
        self._scopes: dict[str, _Scope] = {}

    def _scope(self, scope: str) -> _Scope:
        sc = self._scopes.get(scope)
        if sc is None:
            sc = self._scopes[scope] = _Scope(self.account_concurrency)
        return sc

    def set_reserved(self, scope: str, function_arn: str, n: int | None) -> None:
        self._scope(scope).set_reserved(function_arn, n)

    def acquire(self, scope: str, function_arn: str, reserved: int | None) -> Lease:
        """Take a slot or raise :class:`Throttled`. ``reserved`` is the
        function's current reservation (it updates the scope's bookkeeping)."""
        sc = self._scopes.get(scope) or self._scope(scope)
        if sc.reserved.get(function_arn) != reserved:
            sc.set_reserved(function_arn, reserved)
        if reserved is not None:
            n = sc.reserved_inflight.get(function_arn, 0)
            if n >= sc.reserved[function_arn]:
                raise Throttled("reserved")
            sc.reserved_inflight[function_arn] = n + 1
            return Lease(sc, function_arn)
        if sc.unreserved_inflight >= sc.limit - sc.reserved_sum:
            raise Throttled("account")
        sc.unreserved_inflight += 1
        return Lease(sc, None)

    def in_flight(self, scope: str) -> int:
        sc = self._scopes.get(scope)
        return 0 if sc is None else sc.in_flight

    def unreserved_available(self, scope: str) -> int:
        sc = self._scope(scope)
        return max(0, sc.unreserved_limit - sc.unreserved_inflight)
