"""Environments launched ahead: a function's next new environment is started (confined, waiting for
its INIT) before an invocation needs it; the cold start then runs only INIT."""

from __future__ import annotations

import asyncio
import json
import time

from nubis.engine import engine as engine_mod

from .conftest import make_inv, make_spec, pid_alive, until

# INIT records when it ran: it must run when the invocation comes, never ahead of it.
STAMP = """
import os, time
INIT_AT = time.time()
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"pid": os.getpid(), "init_at": INIT_AT}
"""


def _body(r) -> dict:
    return json.loads(r.payload)


def _launched(eng, spec):
    pool = eng._pools.get(spec.key)
    return pool.launched if pool is not None else None


async def _prime(eng, spec):
    """Prime ``spec`` and return the environment launched for it."""
    eng.prime(spec)
    assert await until(lambda: _launched(eng, spec) is not None)
    return _launched(eng, spec)


def test_prime_launches_an_environment_whose_init_runs_at_the_first_invoke(run, make_engine, code):
    spec = make_spec(code(STAMP))

    async def main():
        eng = make_engine()
        try:
            env = await _prime(eng, spec)
            assert pid_alive(env.pid) and env.state == "init" and env.launched()
            await asyncio.sleep(0.05)
            t_invoke = time.time()
            r1 = await eng.invoke(spec, make_inv(spec))
            r2 = await eng.invoke(spec, make_inv(spec))
            return env.pid, t_invoke, r1, r2
        finally:
            await eng.shutdown()

    pid, t_invoke, r1, r2 = run(main())
    assert r1.cold and not r2.cold
    assert _body(r1)["pid"] == pid == _body(r2)["pid"]  # the launched environment served it
    assert _body(r1)["init_at"] >= t_invoke  # INIT ran for the invocation, not ahead of it
    assert "Init Duration" in r1.log_tail and r1.init_ms is not None


def test_taking_the_last_idle_environment_launches_the_next_one(run, make_engine, code):
    spec = make_spec(code(STAMP))

    async def main():
        eng = make_engine()
        try:
            first = await eng.invoke(spec, make_inv(spec))
            busy = asyncio.ensure_future(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.5}')))
            assert await until(lambda: _launched(eng, spec) is not None)
            launched_pid = _launched(eng, spec).pid
            t_invoke = time.time()
            second = await eng.invoke(spec, make_inv(spec))  # the warm one is busy: a new environment
            return first, await busy, second, launched_pid, t_invoke
        finally:
            await eng.shutdown()

    first, busy, second, launched_pid, t_invoke = run(main())
    assert first.cold and not busy.cold and second.cold
    assert _body(second)["pid"] == launched_pid != _body(first)["pid"] == _body(busy)["pid"]
    assert _body(second)["init_at"] >= t_invoke


def test_launched_environment_of_a_retired_revision_is_killed(run, make_engine, code):
    spec = make_spec(code(STAMP))

    async def main():
        eng = make_engine()
        try:
            pid = (await _prime(eng, spec)).pid
            eng.retire(spec.key)
            gone = await until(lambda: not pid_alive(pid))
            return gone, eng._primed
        finally:
            await eng.shutdown()

    gone, primed = run(main())
    assert gone and not primed


def test_unused_launched_environment_expires_and_is_not_relaunched_soon(run, make_engine, code, monkeypatch):
    monkeypatch.setattr(engine_mod, "PRIME_TTL_S", 0.3)
    spec = make_spec(code(STAMP))

    async def main():
        eng = make_engine(keep_alive_s=0.4)
        try:
            pid = (await _prime(eng, spec)).pid
            gone = await until(lambda: not pid_alive(pid))
            pool = eng._pools.get(spec.key)
            backoff = pool is None or pool.prime_after > asyncio.get_running_loop().time()
            r = await eng.invoke(spec, make_inv(spec))  # a plain cold start
            return gone, backoff, r, pid
        finally:
            await eng.shutdown()

    gone, backoff, r, pid = run(main())
    assert gone and backoff
    assert r.cold and _body(r)["pid"] != pid


def test_launched_environment_is_not_used_for_another_spec_of_the_same_key(run, make_engine, code):
    spec = make_spec(code(STAMP))
    other = make_spec(spec.code_dir, environment={"X": "1"})  # same key, different variables

    async def main():
        eng = make_engine()
        try:
            pid = (await _prime(eng, spec)).pid
            r = await eng.invoke(other, make_inv(other))
            gone = await until(lambda: not pid_alive(pid))
            return r, pid, gone
        finally:
            await eng.shutdown()

    r, pid, gone = run(main())
    assert r.cold and _body(r)["pid"] != pid and gone
