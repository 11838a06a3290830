"""Python environments forked from a zygote: parentage, preloading, exits, restart, fallback, reaping."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from nubis.engine import zygote as zygote_mod

from .conftest import make_inv, make_spec, pid_alive, until

PROBE = """
import os, sys
def handler(event, context):
    if event.get("sleep"):
        import time
        time.sleep(event["sleep"])
    return {"pid": os.getpid(), "ppid": os.getppid()}
"""


def _body(r) -> dict:
    return json.loads(r.payload)


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _children_of(pid: int) -> set[int]:
    out = set()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = Path(f"/proc/{p}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(p))
    return out


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_environments_are_forked_from_the_zygote(run, make_engine, rec, code):
    spec = make_spec(code(PROBE))

    async def main():
        eng = make_engine()
        try:
            r1 = await eng.invoke(spec, make_inv(spec))
            r2 = await eng.invoke(spec, make_inv(spec))  # warm
            spec_b = make_spec(spec.code_dir, key="other-revision")
            r3 = await eng.invoke(spec_b, make_inv(spec_b))
            return r1, r2, r3, eng.zygote.pid, eng.zygote.forks, eng.zygote.execs
        finally:
            await eng.shutdown()

    r1, r2, r3, zpid, forks, execs = run(main())
    assert r1.cold and not r2.cold and r3.cold
    assert _body(r1)["ppid"] == zpid == _body(r3)["ppid"]
    assert _body(r1)["pid"] == _body(r2)["pid"] != _body(r3)["pid"]
    assert zpid != os.getpid()
    # r1 and r3 cold, plus the environment launched ahead when r2 took the only idle one.
    assert (forks, execs) == (3, 0)
    assert "Init Duration" in r1.log_tail and r1.init_ms is not None
    assert re.search(r"Max Memory Used: [1-9]\d* MB", r1.log_tail)


def test_the_zygote_runs_the_configured_interpreter_and_script(run, make_engine, rec, code):
    spec = make_spec(code(PROBE))

    async def main():
        eng = make_engine()
        try:
            r = await eng.invoke(spec, make_inv(spec))
            return r, _cmdline(eng.zygote.pid)
        finally:
            await eng.shutdown()

    r, cmd = run(main())
    assert cmd[0] == sys.executable and os.path.isabs(cmd[0])
    assert cmd[1].endswith("/runtimes/python/zygote.py") and cmd[2].endswith("/runtimes/python/bootstrap.py")
    assert r.function_error is None


def test_boto3_is_preloaded_and_importable_in_the_handler(run, make_engine, rec, code):
    d = code(
        """
        import sys
        PRELOADED = "boto3" in sys.modules
        import boto3
        def handler(event, context):
            client = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
            return {"preloaded": PRELOADED, "client": type(client).__name__, "version": boto3.__version__}
        """
    )
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            return await eng.invoke(spec, make_inv(spec)), eng.zygote.preloaded
        finally:
            await eng.shutdown()

    r, preloaded = run(main())
    import boto3

    assert r.function_error is None, r.payload
    assert _body(r) == {"preloaded": True, "client": "S3", "version": boto3.__version__}
    assert {"boto3", "botocore", "urllib3", "json"} <= preloaded


def test_preload_is_configurable_and_a_failing_import_is_skipped(run, make_engine, rec, code, caplog, monkeypatch):
    monkeypatch.setenv("NUBIS_ZYGOTE_PRELOAD", "json, no_such_module_for_nubis")
    d = code(
        """
        import sys
        def handler(event, context):
            return {"boto3": "boto3" in sys.modules}
        """
    )
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            r = await eng.invoke(spec, make_inv(spec))
            return r, eng.zygote.failed_imports, eng.zygote.forks
        finally:
            await eng.shutdown()

    with caplog.at_level(logging.WARNING, logger="nubis.engine.zygote"):
        r, failed, forks = run(main())
    assert r.function_error is None and forks == 1
    assert _body(r) == {"boto3": False}
    assert list(failed) == ["no_such_module_for_nubis"]
    assert any("no_such_module_for_nubis" in m and "skipped" in m for m in caplog.messages)


@pytest.mark.parametrize(
    "body,message",
    [
        ("os._exit(3)", "Runtime exited with error: exit status 3"),
        ("sys.exit(2)", "Runtime exited with error: exit status 2"),
        ("os._exit(0)", "Runtime exited without providing a reason"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "Runtime exited with error: signal: killed"),
        ("os.kill(os.getpid(), signal.SIGSEGV)", "Runtime exited with error: signal: segmentation fault"),
    ],
)
def test_exit_wording_comes_from_the_zygotes_report(run, make_engine, rec, code, body, message):
    d = code(
        f"""
        import os, sys, signal
        def handler(event, context):
            if event.get("crash"):
                {body}
            return {{"pid": os.getpid(), "ppid": os.getppid()}}
        """
    )
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            r0 = await eng.invoke(spec, make_inv(spec))
            inv = make_inv(spec, b'{"crash": true}')
            r1 = await eng.invoke(spec, inv)
            return r0, inv, r1, eng.zygote.pid
        finally:
            await eng.shutdown()

    r0, inv, r1, zpid = run(main())
    assert _body(r0)["ppid"] == zpid
    assert r1.error_type == "Runtime.ExitError"
    assert _body(r1) == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {inv.request_id} Error: {message}"}
    assert re.search(r"Max Memory Used: [1-9]\d* MB\tStatus: error\tError Type: Runtime.ExitError\n$", r1.log_tail)
    assert not pid_alive(_body(r0)["pid"])


def test_init_crash_and_timeout_kill_the_process_group(run, make_engine, rec, code, tmp_path):
    d = code(
        """
        import os, subprocess, time
        p = subprocess.Popen(["sleep", "60"])
        print("grandchild", p.pid, flush=True)
        def handler(event, context):
            time.sleep(30)
        """
    )
    spec = make_spec(d, timeout_s=1)

    async def main():
        eng = make_engine()
        try:
            return await eng.invoke(spec, make_inv(spec)), eng.zygote.forks
        finally:
            await eng.shutdown()

    r, forks = run(main())
    assert forks == 1
    assert r.error_type == "Sandbox.Timedout"
    grandchild = next(int(m.split()[1]) for m in rec.messages() if m.startswith("grandchild "))
    assert _wait(lambda: not pid_alive(grandchild), 5.0)


def test_a_killed_zygote_takes_its_environments_and_is_started_again(run, make_engine, rec, code, caplog):
    spec = make_spec(code(PROBE), timeout_s=30)

    async def main():
        eng = make_engine()
        try:
            r1 = await eng.invoke(spec, make_inv(spec))
            z1 = eng.zygote.pid
            busy = asyncio.ensure_future(eng.invoke(spec, make_inv(spec, b'{"sleep": 20}')))
            r_idle = await eng.invoke(spec, make_inv(spec))  # a second environment, idle
            await asyncio.sleep(0.2)
            os.kill(z1, signal.SIGKILL)
            r_busy = await asyncio.wait_for(busy, 10)
            gone = await until(lambda: not pid_alive(_body(r1)["pid"]) and not pid_alive(_body(r_idle)["pid"]))
            r2 = await eng.invoke(spec, make_inv(spec))
            return r1, z1, r_busy, gone, r2, eng.zygote.pid, eng.zygote.starts
        finally:
            await eng.shutdown()

    with caplog.at_level(logging.WARNING, logger="nubis.engine.zygote"):
        r1, z1, r_busy, gone, r2, z2, starts = run(main())
    assert _body(r1)["ppid"] == z1
    assert r_busy.error_type == "Runtime.ExitError"
    assert "signal: killed" in _body(r_busy)["errorMessage"]
    assert gone
    assert r2.cold and r2.function_error is None
    assert z2 != z1 and _body(r2)["ppid"] == z2 and starts == 2
    assert not pid_alive(z1)
    assert any("exited" in m for m in caplog.messages)


def test_exec_fallback_when_the_zygote_cannot_start(run, make_engine, rec, code, tmp_path, monkeypatch, caplog):
    broken = tmp_path / "broken_zygote.py"
    broken.write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(zygote_mod, "ZYGOTE_SCRIPT", broken)
    spec = make_spec(code(PROBE))

    async def main():
        eng = make_engine()
        try:
            r1 = await eng.invoke(spec, make_inv(spec))
            spec_b = make_spec(spec.code_dir, key="again")
            r2 = await eng.invoke(spec_b, make_inv(spec_b))  # not retried at once
            z = eng.zygote
            return r1, r2, z.state, z.starts, z.forks, z.execs
        finally:
            await eng.shutdown()

    with caplog.at_level(logging.WARNING, logger="nubis.engine.zygote"):
        r1, r2, state, starts, forks, execs = run(main())
    assert r1.function_error is None and r2.function_error is None
    assert _body(r1)["ppid"] == os.getpid() == _body(r2)["ppid"]  # exec'd by the engine itself
    assert (state, starts, forks, execs) == ("failed", 1, 0, 2)
    assert any("could not start" in m and "exec" in m for m in caplog.messages)


def test_disabled_zygote_execs(run, make_engine, rec, code):
    spec = make_spec(code(PROBE))

    async def main():
        eng = make_engine(zygote=False)
        try:
            return await eng.invoke(spec, make_inv(spec)), eng.zygote.starts
        finally:
            await eng.shutdown()

    r, starts = run(main())
    assert _body(r)["ppid"] == os.getpid() and starts == 0


def test_the_zygote_is_stopped_after_keep_alive_and_started_again(run, make_engine, rec, code):
    spec = make_spec(code(PROBE))

    async def main():
        eng = make_engine(keep_alive_s=0.2)
        try:
            r1 = await eng.invoke(spec, make_inv(spec))
            z1 = eng.zygote.pid
            stopped = await until(lambda: eng.zygote.state == "stopped" and not pid_alive(z1), 10.0)
            reaped = await until(lambda: z1 not in _children_of(os.getpid()), 10.0)
            r2 = await eng.invoke(spec, make_inv(spec))
            return r1, z1, stopped, reaped, r2, eng.zygote.pid, eng.zygote.starts
        finally:
            await eng.shutdown()

    r1, z1, stopped, reaped, r2, z2, starts = run(main())
    assert stopped and reaped
    assert not pid_alive(_body(r1)["pid"])
    assert r2.cold and _body(r2)["ppid"] == z2 != z1 and starts == 2


def test_shutdown_leaves_no_processes(run, make_engine, rec, code, tmp_path):
    d = code(
        """
        import os, subprocess, time
        def handler(event, context):
            out = {"pid": os.getpid(), "ppid": os.getppid()}
            if event.get("spawn"):
                out["grandchild"] = subprocess.Popen(["sleep", "60"]).pid
            if event.get("sleep"):
                time.sleep(event["sleep"])
            return out
        """
    )
    spec = make_spec(d, timeout_s=30)
    before = _children_of(os.getpid())

    async def main():
        eng = make_engine()
        r1 = await eng.invoke(spec, make_inv(spec, b'{"spawn": true}'))
        busy = asyncio.ensure_future(eng.invoke(spec, make_inv(spec, b'{"sleep": 20}')))
        await asyncio.sleep(0.3)
        z = eng.zygote.pid
        spare = _children_of(z) - {_body(r1)["pid"]}
        await eng.shutdown(grace_s=0.3)
        r_busy = await busy
        return r1, r_busy, z, spare

    r1, r_busy, z, spare = run(main())
    assert _body(r1)["ppid"] == z
    assert "signal: killed" in _body(r_busy)["errorMessage"]
    assert spare  # the busy environment, and a spare forked in advance
    assert not pid_alive(z) and not any(pid_alive(p) for p in spare)
    assert not pid_alive(_body(r1)["pid"]) and not pid_alive(_body(r1)["grandchild"])
    assert _children_of(os.getpid()) - before == set()


def test_a_burst_of_cold_starts_is_forked(run, make_engine, rec, code):
    spec = make_spec(code(PROBE))

    async def main():
        eng = make_engine()
        try:
            await eng.zygote.prepare()
            rs = await asyncio.gather(*(eng.invoke(spec, make_inv(spec, b'{"sleep": 0.3}')) for _ in range(6)))
            return rs, eng.zygote.pid, eng.zygote.forks
        finally:
            await eng.shutdown()

    rs, zpid, forks = run(main())
    assert all(r.cold and r.function_error is None for r in rs)
    assert len({_body(r)["pid"] for r in rs}) == 6
    assert {_body(r)["ppid"] for r in rs} == {zpid} and forks == 6


PARITY = r"""
import ctypes, gc, io, logging, os, random, signal, sys
def _pdeathsig():
    v = ctypes.c_int(-1)
    ctypes.CDLL(None).prctl(2, ctypes.byref(v))  # PR_GET_PDEATHSIG
    return v.value
def handler(event, context):
    sigs = {}
    for s in signal.valid_signals():
        try:
            h = signal.getsignal(s)
        except (OSError, ValueError):
            continue
        sigs[int(s)] = h if h is None or isinstance(h, int) else getattr(h, "__name__", repr(h))
    main = sys.modules["__main__"]
    return {
        "argv": sys.argv,
        "orig_argv": sys.orig_argv[1:],
        "path": sys.path,
        "main": [main.__name__, main.__file__, main.__spec__, main.__package__, main.__cached__],
        "context_class": [type(context).__module__, type(context).__qualname__],
        "env": [[k, v] for k, v in os.environ.items() if k != "AWS_LAMBDA_LOG_STREAM_NAME"],
        "cwd": os.getcwd(),
        "fds": len(os.listdir("/proc/self/fd")),  # numbers differ: pass_fds keeps the engine's
        "main_globals": list(vars(main)),
        "signals": sigs,
        "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "session_leader": os.getsid(0) == os.getpid() == os.getpgid(0),
        "flags": [sys.flags.dont_write_bytecode, sys.flags.hash_randomization, sys.flags.isolated,
                  sys.flags.no_user_site, sys.flags.optimize, sys.flags.utf8_mode],
        "dont_write_bytecode": sys.dont_write_bytecode,
        "stdout": [sys.stdout.encoding, sys.stdout.errors, sys.stdout.line_buffering, sys.stdout.write_through],
        "stderr": [sys.stderr.encoding, sys.stderr.errors, sys.stderr.line_buffering, sys.stderr.write_through],
        "stdin": os.readlink("/proc/self/fd/0"),
        "gc": gc.isenabled(),
        "root_handlers": [type(h).__name__ for h in logging.getLogger().handlers],
        "root_level": logging.getLogger().level,
        "formatter_converter": logging.Formatter.converter.__name__,
        "tz": [__import__("time").tzname, __import__("time").timezone, __import__("time").strftime("%Z", __import__("time").localtime(0))],
        "pdeathsig": _pdeathsig(),
        "random": random.random(),
    }
"""


@pytest.mark.parametrize("variables", [{"USER_VAR": "x"}, {"TZ": "Europe/Paris", "PYTHONPATH": "/opt/p:/opt/q"}])
def test_a_forked_environment_looks_like_an_exec_d_one(run, make_engine, rec, code, variables):
    spec = make_spec(code(PARITY), environment=variables)

    async def main(zygote: bool):
        eng = make_engine(zygote=zygote)
        try:
            a = await eng.invoke(spec, make_inv(spec))
            spec_b = make_spec(spec.code_dir, key="second", environment=variables)
            b = await eng.invoke(spec_b, make_inv(spec_b))
            return a, b, eng.zygote.forks
        finally:
            await eng.shutdown()

    fa, fb, forks = run(main(True))
    ea, _, _ = run(main(False))
    assert forks == 2
    forked, execd = _body(fa), _body(ea)
    assert _body(fa)["random"] != _body(fb)["random"]  # re-seeded in every environment
    for d in (forked, execd):
        del d["random"]
    assert forked == execd


def test_environments_forked_in_a_batch_look_like_an_exec_d_one(run, make_engine, rec, code):
    """A burst's spares are forked in one batch (the zygote announces them after the last fork):
    each must still start with only its own fds, fresh signal dispositions and its own seed."""
    spec = make_spec(code(PARITY))

    async def burst():
        eng = make_engine()
        try:
            await eng.zygote.prepare()
            while eng.zygote._spares:  # no spare in reserve: the burst's launches all wait together
                eng.zygote._spares.pop().close()
            rs = await asyncio.gather(*(eng.invoke(spec, make_inv(spec)) for _ in range(5)))
            return rs, eng.zygote.forks
        finally:
            await eng.shutdown()

    async def execd():
        eng = make_engine(zygote=False)
        try:
            return await eng.invoke(spec, make_inv(spec))
        finally:
            await eng.shutdown()

    rs, forks = run(burst())
    ref = _body(run(execd()))
    assert forks == 5 and all(r.cold and r.function_error is None for r in rs)
    bodies = [_body(r) for r in rs]
    assert len({b.pop("random") for b in bodies}) == 5
    ref.pop("random")
    for b in bodies:
        assert b == ref


def test_code_that_shadows_a_preloaded_module_is_exec_d(run, make_engine, rec, code):
    d = code('VERSION = "vendored"\n', name="urllib3/__init__.py")
    Path(d, "app.py").write_text(
        "import os, urllib3\n"
        "def handler(event, context):\n"
        "    return {'urllib3': urllib3.VERSION, 'ppid': os.getppid()}\n"
    )
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            r = await eng.invoke(spec, make_inv(spec))
            return r, eng.zygote.forks, eng.zygote.execs
        finally:
            await eng.shutdown()

    r, forks, execs = run(main())
    assert _body(r) == {"urllib3": "vendored", "ppid": os.getpid()}
    assert (forks, execs) == (0, 1)


@pytest.mark.parametrize("variables", [{"PYTHONHASHSEED": "0"}, {"PYTHONPATH": "/opt/x"}, {"LANG": "C.UTF-8"}])
def test_variables_read_at_interpreter_start(run, make_engine, rec, code, variables):
    d = code(
        """
        import os, sys
        def handler(event, context):
            return {"ppid": os.getppid(), "hash_randomization": sys.flags.hash_randomization, "path": sys.path[:2]}
        """
    )
    spec = make_spec(d, environment=variables)

    async def main():
        eng = make_engine()
        try:
            r = await eng.invoke(spec, make_inv(spec))
            return r, eng.zygote.forks, eng.zygote.pid
        finally:
            await eng.shutdown()

    r, forks, zpid = run(main())
    body = _body(r)
    if "PYTHONPATH" in variables:  # handled in the fork: sys.path as the exec'd interpreter has it
        assert forks == 1 and body["ppid"] == zpid
        assert body["path"] == [d, "/opt/x"]
    else:
        assert forks == 0 and body["ppid"] == os.getpid()
    if "PYTHONHASHSEED" in variables:
        assert body["hash_randomization"] == 0


def test_missing_code_dir_still_raises(run, make_engine, rec, tmp_path):
    spec = make_spec(str(tmp_path / "does-not-exist"))

    async def main():
        eng = make_engine()
        try:
            await eng.zygote.prepare()
            with pytest.raises(OSError):
                await eng.invoke(spec, make_inv(spec))
            return eng.zygote.state
        finally:
            await eng.shutdown()

    assert run(main()) == "ready"
