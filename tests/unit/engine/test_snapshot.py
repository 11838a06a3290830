"""SnapStart in the engine: a snapshot per version runs INIT once and forks restored environments
(REPORT with Restore Duration, RESTORE_START/RESTORE_REPORT lines, hooks, reseeding), is reaped with
the keep-alive and created again on demand, dropped on retire; a failing INIT is reported."""

from __future__ import annotations

import asyncio
import json

from nubis.engine import logs as L

from .conftest import make_inv, make_spec, pid_alive

CODE = """
import os, random
from snapshot_restore_py import register_before_snapshot, register_after_restore
INIT_PID = os.getpid()
EVENTS = []
register_before_snapshot(lambda: EVENTS.append("before"))
@register_after_restore
def after():
    EVENTS.append("after")
    print("restored in", os.getpid())
def handler(event, context):
    return {"init_pid": INIT_PID, "pid": os.getpid(), "events": EVENTS, "r": random.random(),
            "type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""


def snap_spec(code_dir: str, **kw):
    return make_spec(code_dir, key=f"fn:1:{code_dir}", version="1", snap_start=True, **kw)


def test_restore_from_snapshot(run, make_engine, rec, code):
    spec = snap_spec(code(CODE))

    async def main():
        eng = make_engine()
        try:
            made = await eng.snapshot(spec)
            assert made.ok and made.init_ms > 0
            init_logs = rec.messages(-1)
            r1 = await eng.invoke(spec, make_inv(spec, b'{"a": 1}'))
            r2, r3 = await asyncio.gather(eng.invoke(spec, make_inv(spec)), eng.invoke(spec, make_inv(spec)))
            snaps = eng.snapshots()
            return init_logs, r1, r2, r3, snaps
        finally:
            await eng.shutdown()

    init_logs, r1, r2, r3, snaps = run(main())
    assert init_logs[0].startswith("INIT_START ") and init_logs[-1].startswith("INIT_REPORT Init Duration: ")
    assert "Phase: init\tStatus: success" in init_logs[-1]
    out = json.loads(r1.payload)
    assert out["init_pid"] != out["pid"] and out["events"] == ["before", "after"] and out["type"] == "snap-start"
    assert r1.cold and r1.init_ms is None and r1.restore_ms is not None and r1.billed_restore_ms >= 1
    msgs = [m for _, m in rec.logs[1][2]]
    assert msgs[0].startswith("RESTORE_START Runtime Version: ") and msgs[1].startswith("restored in ")
    assert msgs[2] == L.restore_report_line(r1.restore_ms)
    assert "\tRestore Duration: " in msgs[-1] and "Init Duration" not in msgs[-1]
    pids = {json.loads(r.payload)["pid"] for r in (r1, r2, r3)}
    assert len(pids) == 2 or len(pids) == 3  # r2/r3 run concurrently: at least one new environment
    assert {json.loads(r.payload)["init_pid"] for r in (r1, r2, r3)} == {out["init_pid"]}
    assert len({json.loads(r.payload)["r"] for r in (r1, r2, r3)}) == 3
    assert list(snaps.values())[0]["restores"] >= 2


def test_snapshot_init_failure(run, make_engine, rec, code):
    spec = snap_spec(code("raise KeyError('DB_URL')\ndef handler(e, c):\n    return 1\n"))

    async def main():
        eng = make_engine()
        try:
            return await eng.snapshot(spec)
        finally:
            await eng.shutdown()

    made = run(main())
    assert not made.ok and made.error_type == "KeyError" and "DB_URL" in made.error_message
    assert "Status: error\tError Type: KeyError" in rec.messages(-1)[-1]


def test_reaped_with_keep_alive_and_recreated(run, make_engine, rec, code):
    spec = snap_spec(code(CODE))

    async def main():
        eng = make_engine(keep_alive_s=0.2)
        try:
            r1 = await eng.invoke(spec, make_inv(spec))  # made on demand by the first invocation
            first = json.loads(r1.payload)["init_pid"]
            for _ in range(200):  # the environment, then the snapshot, are reaped
                await asyncio.sleep(0.05)
                if not pid_alive(first):
                    break
            gone = not pid_alive(first)
            r2 = await eng.invoke(spec, make_inv(spec))
            second = json.loads(r2.payload)["init_pid"]
            eng.retire("fn:1:")
            for _ in range(100):
                await asyncio.sleep(0.05)
                if not pid_alive(second):
                    break
            return first, gone, second, pid_alive(second), r2
        finally:
            await eng.shutdown()

    first, gone, second, alive_after_retire, r2 = run(main())
    assert gone and second != first and not alive_after_retire
    assert r2.restore_ms is not None
