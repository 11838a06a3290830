"""Environments over time: reuse, timeouts, crashes, concurrency, retire, reaping, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path

import pytest

from nubis.engine import EngineClosed, Throttled
from nubis.engine import environment as environment_mod

from .conftest import SCOPE, make_inv, make_spec, pid_alive

PID = """
import os, time, json
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"pid": os.getpid(), "stream": context.log_stream_name}
"""


def _pid(r) -> int:
    return json.loads(r.payload)["pid"]


def test_warm_reuse(run, make_engine, rec, code):
    spec = make_spec(code(PID))

    async def main():
        eng = make_engine()
        try:
            rs = [await eng.invoke(spec, make_inv(spec)) for _ in range(3)]
            return rs
        finally:
            await eng.shutdown()

    r1, r2, r3 = run(main())
    assert r1.cold and not r2.cold and not r3.cold
    assert _pid(r1) == _pid(r2) == _pid(r3)
    assert r1.log_stream == r2.log_stream == json.loads(r2.payload)["stream"]
    assert r1.init_ms is not None and r2.init_ms is None
    assert "Init Duration" in r1.log_tail and "Init Duration" not in r2.log_tail
    assert r2.billed_ms == max(1, -(-round(r2.duration_ms, 6) // 1))
    assert [len(x[2]) for x in rec.logs] == [4, 3, 3]  # (INIT_START) START END REPORT, no output


def test_timeout_and_replacement(run, make_engine, rec, code):
    d = code(
        """
        import os, time
        def handler(event, context):
            if event.get("sleep"):
                print("going to sleep")
                time.sleep(event["sleep"])
            return {"pid": os.getpid()}
        """
    )
    spec = make_spec(d, timeout_s=1)

    async def main():
        eng = make_engine()
        try:
            r0 = await eng.invoke(spec, make_inv(spec))
            inv = make_inv(spec, b'{"sleep": 30}')
            t = time.monotonic()
            r1 = await eng.invoke(spec, inv)
            elapsed = time.monotonic() - t
            alive_after = pid_alive(_pid(r0))
            r2 = await eng.invoke(spec, make_inv(spec))
            return r0, inv, r1, elapsed, alive_after, r2
        finally:
            await eng.shutdown()

    r0, inv, r1, elapsed, alive_after, r2 = run(main())
    assert 0.95 < elapsed < 2.5
    assert r1.function_error == "Unhandled"
    assert r1.error_type == "Sandbox.Timedout"
    assert r1.payload == (
        b'{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: '
        + inv.request_id.encode()
        + b' Error: Task timed out after 1.00 seconds"}'
    )
    assert r1.duration_ms == 1000.0
    assert r1.billed_ms == 1000
    assert not alive_after
    msgs = rec.messages(1)
    assert "going to sleep\n" in msgs
    assert msgs[-2] == f"END RequestId: {inv.request_id}\n"
    assert re.fullmatch(
        rf"REPORT RequestId: {inv.request_id}\tDuration: 1000\.00 ms\tBilled Duration: 1000 ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: [1-9]\d* MB\tStatus: timeout\n",
        msgs[-1],
    ), msgs[-1]
    # replaced on the next invocation
    assert r2.cold and _pid(r2) != _pid(r0) and r2.log_stream != r0.log_stream
    assert [o for _, _, o in rec.meters] == ["success", "timeout", "success"]


@pytest.mark.parametrize(
    "body,message",
    [
        ("os._exit(3)", "Runtime exited with error: exit status 3"),
        ("os._exit(0)", "Runtime exited without providing a reason"),
        ("sys.exit(2)", "Runtime exited with error: exit status 2"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "Runtime exited with error: signal: killed"),
    ],
)
def test_crash(run, make_engine, rec, code, body, message):
    d = code(
        f"""
        import os, sys, signal
        def handler(event, context):
            if event.get("crash"):
                print("about to crash")
                {body}
            return {{"pid": os.getpid()}}
        """
    )
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            r0 = await eng.invoke(spec, make_inv(spec))
            inv = make_inv(spec, b'{"crash": true}')
            r1 = await eng.invoke(spec, inv)
            r2 = await eng.invoke(spec, make_inv(spec))
            return r0, inv, r1, r2
        finally:
            await eng.shutdown()

    r0, inv, r1, r2 = run(main())
    assert r1.function_error == "Unhandled"
    assert r1.error_type == "Runtime.ExitError"
    assert json.loads(r1.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {inv.request_id} Error: {message}",
    }
    msgs = rec.messages(1)
    assert "about to crash\n" in msgs
    assert msgs[-1].endswith("\tStatus: error\tError Type: Runtime.ExitError\n")
    assert re.search(r"Max Memory Used: [1-9]\d* MB", msgs[-1])
    assert not pid_alive(_pid(r0))
    assert r2.cold and _pid(r2) != _pid(r0)
    assert rec.meters[1][2] == "crash"


def test_crash_during_init(run, make_engine, rec, code):
    spec = make_spec(code("import os\nos._exit(7)\n"))

    async def main():
        eng = make_engine()
        try:
            inv = make_inv(spec)
            return inv, await eng.invoke(spec, inv)
        finally:
            await eng.shutdown()

    inv, r = run(main())
    assert r.error_type == "Runtime.ExitError"
    assert json.loads(r.payload)["errorMessage"] == f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status 7"
    assert any(m.startswith("INIT_REPORT ") and "Status: error\tError Type: Runtime.ExitError" in m for m in rec.messages())
    assert rec.meters[0][2] == "crash"


def test_init_timeout(run, make_engine, rec, code, monkeypatch):
    monkeypatch.setattr(environment_mod, "INIT_TIMEOUT_S", 0.5)
    spec = make_spec(code("import time\ntime.sleep(30)\ndef handler(e, c):\n    return 1\n"), timeout_s=2)

    async def main():
        eng = make_engine()
        try:
            inv = make_inv(spec)
            return inv, await eng.invoke(spec, inv)
        finally:
            await eng.shutdown()

    inv, r = run(main())
    assert r.error_type == "Sandbox.Timedout"
    assert json.loads(r.payload)["errorMessage"] == f"RequestId: {inv.request_id} Error: Task timed out after 2.00 seconds"
    init_report = [m for m in rec.messages() if m.startswith("INIT_REPORT")]
    assert init_report and "\tStatus: timeout" in init_report[0]
    assert rec.messages()[-1].endswith("\tStatus: timeout\n")


def test_concurrent_invocations_use_two_environments(run, make_engine, rec, code):
    spec = make_spec(code(PID))

    async def main():
        eng = make_engine()
        try:
            a = asyncio.ensure_future(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.4}')))
            b = asyncio.ensure_future(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.4}')))
            await asyncio.sleep(0.2)
            during = eng.in_flight(SCOPE)
            ra, rb = await asyncio.gather(a, b)
            after = eng.in_flight(SCOPE)
            # both environments are now warm: two more concurrent calls reuse them
            c = await asyncio.gather(*(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.1}')) for _ in range(2)))
            return during, after, ra, rb, c
        finally:
            await eng.shutdown()

    during, after, ra, rb, c = run(main())
    assert during == 2 and after == 0
    assert ra.cold and rb.cold
    assert _pid(ra) != _pid(rb)
    assert ra.log_stream != rb.log_stream
    assert {_pid(x) for x in c} == {_pid(ra), _pid(rb)}
    assert not any(x.cold for x in c)


def test_throttle_reserved_zero(run, make_engine, rec, code):
    spec = make_spec(code(PID), reserved_concurrency=0)

    async def main():
        eng = make_engine()
        try:
            with pytest.raises(Throttled) as ei:
                await eng.invoke(spec, make_inv(spec))
            return ei.value, eng.in_flight(SCOPE)
        finally:
            await eng.shutdown()

    exc, inflight = run(main())
    assert exc.reason == "reserved"
    assert inflight == 0
    assert rec.logs == [] and rec.meters == []


def test_throttle_reserved_one(run, make_engine, rec, code):
    spec = make_spec(code(PID), reserved_concurrency=1)

    async def main():
        eng = make_engine()
        try:
            results = await asyncio.gather(
                eng.invoke(spec, make_inv(spec, b'{"sleep": 0.3}')),
                eng.invoke(spec, make_inv(spec, b'{"sleep": 0.3}')),
                return_exceptions=True,
            )
            again = await eng.invoke(spec, make_inv(spec))
            return results, again
        finally:
            await eng.shutdown()

    results, again = run(main())
    throttles = [x for x in results if isinstance(x, Throttled)]
    oks = [x for x in results if not isinstance(x, BaseException)]
    assert len(throttles) == 1 and len(oks) == 1
    assert throttles[0].reason == "reserved"
    assert again.function_error is None and not again.cold


def test_throttle_account(run, make_engine, rec, code):
    spec = make_spec(code(PID))
    other_arn = "arn:aws:lambda:us-east-1:000000000000:function:other"

    async def main():
        eng = make_engine(account_concurrency=3)
        try:
            eng.set_reserved(SCOPE, other_arn, 2)  # leaves 1 unreserved
            results = await asyncio.gather(
                eng.invoke(spec, make_inv(spec, b'{"sleep": 0.3}')),
                eng.invoke(spec, make_inv(spec, b'{"sleep": 0.3}')),
                return_exceptions=True,
            )
            eng.set_reserved(SCOPE, other_arn, None)  # back to 3 unreserved
            more = await asyncio.gather(
                *(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.2}')) for _ in range(3)), return_exceptions=True
            )
            # another scope has its own limit
            spec2 = make_spec(spec.code_dir, scope="other/scope", key="k2")
            r_other = await eng.invoke(spec2, make_inv(spec2))
            return results, more, r_other
        finally:
            await eng.shutdown()

    results, more, r_other = run(main())
    throttles = [x for x in results if isinstance(x, Throttled)]
    assert len(throttles) == 1 and throttles[0].reason == "account"
    assert not any(isinstance(x, BaseException) for x in more)
    assert r_other.function_error is None


def test_retire_idle_and_busy(run, make_engine, rec, code):
    spec = make_spec(code(PID), key="fn:1:rev-a")
    spec_b = make_spec(spec.code_dir, key="fn:1:rev-b")

    async def main():
        eng = make_engine()
        try:
            r1 = await eng.invoke(spec, make_inv(spec))
            busy = asyncio.ensure_future(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.3}')))
            await asyncio.sleep(0.05)
            # a second, idle environment of the same pool
            r_idle = await eng.invoke(spec, make_inv(spec))
            eng.retire("fn:1:rev-a")
            await asyncio.sleep(0.2)
            idle_alive = pid_alive(_pid(r_idle))
            r_busy = await busy
            await asyncio.sleep(0.2)
            busy_alive = pid_alive(_pid(r_busy))
            r_new = await eng.invoke(spec, make_inv(spec))
            r_b = await eng.invoke(spec_b, make_inv(spec_b))
            return r1, r_idle, idle_alive, r_busy, busy_alive, r_new, r_b
        finally:
            await eng.shutdown()

    r1, r_idle, idle_alive, r_busy, busy_alive, r_new, r_b = run(main())
    assert _pid(r_busy) == _pid(r1) and _pid(r_idle) != _pid(r1)
    assert not idle_alive  # idle environment stopped at once
    assert r_busy.function_error is None  # the busy one finished its invocation ...
    assert not busy_alive  # ... and stopped after it
    assert r_new.cold and _pid(r_new) not in (_pid(r1), _pid(r_idle))
    assert r_b.cold


def test_keep_alive_reaping(run, make_engine, rec, code):
    spec = make_spec(code(PID))

    async def main():
        eng = make_engine(keep_alive_s=0.2)
        try:
            r1 = await eng.invoke(spec, make_inv(spec))
            r2 = await eng.invoke(spec, make_inv(spec))  # warm, well within keep-alive
            await asyncio.sleep(0.8)
            alive = pid_alive(_pid(r1))
            r3 = await eng.invoke(spec, make_inv(spec))
            return r1, r2, alive, r3
        finally:
            await eng.shutdown()

    r1, r2, alive, r3 = run(main())
    assert not r2.cold and _pid(r2) == _pid(r1)
    assert not alive
    assert r3.cold and _pid(r3) != _pid(r1)


def test_shutdown_leaves_no_processes(run, make_engine, rec, code, tmp_path):
    d = code(
        """
        import os, subprocess, time
        def handler(event, context):
            out = {"pid": os.getpid()}
            if event.get("spawn"):
                out["grandchild"] = subprocess.Popen(["sleep", "60"]).pid
            if event.get("sleep"):
                time.sleep(event["sleep"])
            return out
        """
    )
    spec = make_spec(d, timeout_s=30)

    async def main():
        eng = make_engine()
        r1 = await eng.invoke(spec, make_inv(spec, b'{"spawn": true}'))
        busy = asyncio.ensure_future(eng.invoke(spec, make_inv(spec, b'{"sleep": 20}')))
        await asyncio.sleep(0.3)
        t = time.monotonic()
        await eng.shutdown(grace_s=0.3)
        took = time.monotonic() - t
        r_busy = await busy
        with pytest.raises(EngineClosed):
            await eng.invoke(spec, make_inv(spec))
        return r1, r_busy, took

    before = _children()
    r1, r_busy, took = run(main())
    grandchild = json.loads(r1.payload)["grandchild"]
    assert took < 3
    assert r_busy.error_type == "Runtime.ExitError"
    assert "signal: killed" in json.loads(r_busy.payload)["errorMessage"]
    time.sleep(0.05)
    assert not pid_alive(_pid(r1))
    assert not pid_alive(grandchild)
    # no child processes of ours left, beyond those other tests in this session started before
    assert _children() - before == set()


def test_shutdown_waits_for_in_flight(run, make_engine, rec, code):
    spec = make_spec(code(PID))

    async def main():
        eng = make_engine()
        busy = asyncio.ensure_future(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.4}')))
        await asyncio.sleep(0.1)
        await eng.shutdown(grace_s=5)
        r = await busy
        return r

    r = run(main())
    assert r.function_error is None
    assert not pid_alive(_pid(r))


def test_cancelled_caller_does_not_leak(run, make_engine, rec, code):
    spec = make_spec(code(PID), reserved_concurrency=1)

    async def main():
        eng = make_engine()
        try:
            await eng.invoke(spec, make_inv(spec))  # warm
            t = asyncio.ensure_future(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.3}')))
            await asyncio.sleep(0.1)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            during = eng.in_flight(SCOPE)
            await asyncio.sleep(0.4)
            after = eng.in_flight(SCOPE)
            r = await eng.invoke(spec, make_inv(spec))
            return during, after, r
        finally:
            await eng.shutdown()

    during, after, r = run(main())
    assert during == 1  # the invocation runs on
    assert after == 0
    assert not r.cold  # and its environment went back to the pool
    assert [o for _, _, o in rec.meters] == ["success", "success", "success"]


def test_idle_environment_dying_is_replaced(run, make_engine, rec, code):
    spec = make_spec(code(PID))

    async def main():
        eng = make_engine()
        try:
            r1 = await eng.invoke(spec, make_inv(spec))
            os.kill(_pid(r1), 9)
            await asyncio.sleep(0.2)
            r2 = await eng.invoke(spec, make_inv(spec))
            return r1, r2
        finally:
            await eng.shutdown()

    r1, r2 = run(main())
    assert r2.cold and _pid(r2) != _pid(r1)
    assert r2.function_error is None


def test_missing_code_dir_raises_without_leaking(run, make_engine, rec, tmp_path):
    spec = make_spec(str(tmp_path / "does-not-exist"))

    async def main():
        eng = make_engine()
        try:
            with pytest.raises(OSError):
                await eng.invoke(spec, make_inv(spec))
            return eng.in_flight(SCOPE)
        finally:
            await eng.shutdown()

    assert run(main()) == 0


def test_background_output_goes_to_the_next_invocation(run, make_engine, rec, code):
    d = code(
        """
        import threading, time
        def later():
            time.sleep(0.1)
            print("from the background")
        def handler(event, context):
            if event.get("spawn"):
                threading.Thread(target=later).start()
            return 1
        """
    )
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            await eng.invoke(spec, make_inv(spec, b'{"spawn": true}'))
            await asyncio.sleep(0.3)
            return await eng.invoke(spec, make_inv(spec))
        finally:
            await eng.shutdown()

    r = run(main())
    assert "from the background\n" in rec.messages(1)
    assert "from the background" not in "".join(rec.messages(0))
    assert r.log_tail.index("START") < r.log_tail.index("from the background") < r.log_tail.index("END")


def _children() -> set[str]:
    """PIDs whose parent is this test process."""
    me, out = os.getpid(), set()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = Path(f"/proc/{p}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.add(p)
    return out


PROVISIONED = """
import os, time
print("init", os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"], flush=True)
def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"pid": os.getpid(), "type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""


def test_provisioned_environments_are_ready_kept_and_replaced(run, make_engine, rec, code):
    spec = make_spec(code(PROVISIONED), timeout_s=10)

    async def main():
        eng = make_engine(keep_alive_s=0.1)
        try:
            status = await eng.provision(spec, 2)
            assert [m for _, _, ev in rec.logs for _, m in ev if m.startswith("INIT_START")]
            rs = await asyncio.gather(*(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.3}')) for _ in range(2)))
            await asyncio.sleep(0.5)  # several keep-alive periods: provisioned ones are not reaped
            again = await eng.invoke(spec, make_inv(spec))
            crash = await eng.invoke(spec, make_inv(spec, b'{"crash": true}'))
            for _ in range(200):  # the crashed one is replaced
                if eng.provisioned(spec)["ready"] == 2 and not eng.provisioned(spec)["initializing"]:
                    break
                await asyncio.sleep(0.02)
            replaced = eng.provisioned(spec)
            down = await eng.provision(spec, 0)
            await asyncio.sleep(0.5)  # now on demand: reaped after keep-alive
            left = sum(1 for e in eng._envs if e.alive)
            return status, rs, again, crash, replaced, down, left
        finally:
            await eng.shutdown()

    status, rs, again, crash, replaced, down, left = run(main())
    assert status == {"requested": 2, "ready": 2, "initializing": 0, "failed": 0}
    assert all(not r.cold and r.init_ms is None for r in rs)
    assert {json.loads(r.payload)["type"] for r in rs} == {"provisioned-concurrency"}
    assert len({_pid(r) for r in rs}) == 2 and _pid(again) in {_pid(r) for r in rs}
    assert crash.error_type == "Runtime.ExitError"
    assert replaced == {"requested": 2, "ready": 2, "initializing": 0, "failed": 0}
    assert down["requested"] == 0 and left == 0
    inits = [m for _, _, ev in rec.logs for _, m in ev if m.startswith("init ")]
    assert inits.count("init provisioned-concurrency\n") == 3  # two, then the replacement


def test_engine_start_starts_the_zygote_before_the_first_cold_start(run, make_engine, rec, code):
    spec = make_spec(code(PID))

    async def main():
        eng = make_engine()
        try:
            eng.start()
            for _ in range(1000):
                if eng.zygote.state == "ready":
                    break
                await asyncio.sleep(0.01)
            ready = eng.zygote.state
            r = await eng.invoke(spec, make_inv(spec))
            return ready, r, eng.zygote.starts, eng.zygote.forks
        finally:
            await eng.shutdown()

    ready, r, starts, forks = run(main())
    assert ready == "ready" and r.cold and r.function_error is None
    assert (starts, forks) == (1, 1)
