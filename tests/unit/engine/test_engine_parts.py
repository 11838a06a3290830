"""The engine's pure parts: concurrency accounting, log lines, environment variables."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from nubis.engine import Throttled
from nubis.engine import logs as L
from nubis.engine.concurrency import ConcurrencyLimiter
from nubis.engine.environment import lambda_environment, new_log_stream_name
from nubis.engine.sandbox import describe_exit

from .conftest import make_spec

A = "arn:aws:lambda:us-east-1:000000000000:function:a"
B = "arn:aws:lambda:us-east-1:000000000000:function:b"
C = "arn:aws:lambda:us-east-1:000000000000:function:c"


def test_reserved_pools_are_carved_out_of_the_scope():
    lim = ConcurrencyLimiter(5)
    a1 = lim.acquire("s", A, 2)
    a2 = lim.acquire("s", A, 2)
    with pytest.raises(Throttled) as ei:
        lim.acquire("s", A, 2)
    assert ei.value.reason == "reserved"
    # unreserved functions share 5 - 2 = 3
    cs = [lim.acquire("s", C, None) for _ in range(3)]
    with pytest.raises(Throttled) as ei:
        lim.acquire("s", B, None)
    assert ei.value.reason == "account"
    assert lim.in_flight("s") == 5
    # another scope is independent
    lim.acquire("t", B, None)
    assert lim.in_flight("t") == 1
    a1.release()
    a1.release()  # idempotent
    assert lim.in_flight("s") == 4
    lim.acquire("s", A, 2)
    for x in cs + [a2]:
        x.release()
    assert lim.in_flight("s") == 1


def test_reserved_zero_throttles_everything():
    lim = ConcurrencyLimiter(10)
    with pytest.raises(Throttled) as ei:
        lim.acquire("s", A, 0)
    assert ei.value.reason == "reserved"
    assert lim.in_flight("s") == 0


def test_set_reserved_counts_functions_not_yet_invoked():
    lim = ConcurrencyLimiter(3)
    lim.set_reserved("s", B, 2)
    x = lim.acquire("s", A, None)
    with pytest.raises(Throttled):
        lim.acquire("s", A, None)
    lim.set_reserved("s", B, None)
    y = lim.acquire("s", A, None)
    assert lim.unreserved_available("s") == 1
    x.release(), y.release()


def test_reservation_change_while_in_flight():
    lim = ConcurrencyLimiter(3)
    x = lim.acquire("s", A, 1)
    y = lim.acquire("s", A, None)  # reservation removed: now unreserved
    x.release()
    y.release()
    assert lim.in_flight("s") == 0


def test_log_lines():
    assert L.start_line("r1", "$LATEST") == "START RequestId: r1 Version: $LATEST\n"
    assert L.end_line("r1") == "END RequestId: r1\n"
    assert (
        L.report_line("r1", 3.011, 4, 128, 36, 110.1)
        == "REPORT RequestId: r1\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n"
    )
    assert (
        L.report_line("r1", 1000.0, 1000, 128, 40, None, "timeout")
        == "REPORT RequestId: r1\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 40 MB\tStatus: timeout\n"
    )
    assert L.report_line("r1", 5.0, 5, 128, 40, None, "error", "Runtime.ExitError").endswith(
        "Max Memory Used: 40 MB\tStatus: error\tError Type: Runtime.ExitError\n"
    )
    assert (
        L.init_start_line("python:3.12.v7", "eu-west-1", "ab" * 32)
        == "INIT_START Runtime Version: python:3.12.v7\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:"
        + "ab" * 32
        + "\n"
    )
    assert (
        L.init_report_line(11.72, "error", "Runtime.ImportModuleError")
        == "INIT_REPORT Init Duration: 11.72 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError\n"
    )


def test_billed_duration():
    assert L.billed_ms(3.01) == 4
    assert L.billed_ms(3.0) == 3
    assert L.billed_ms(0.2) == 1
    assert L.billed_ms(3031.25, 1294.01) == 4326  # INIT billed on cold starts
    assert L.billed_ms(1000.0) == 1000
    assert L.kb_to_mb(36 * 1024) == 36 and L.kb_to_mb(36 * 1024 + 1) == 37


def test_describe_exit():
    assert describe_exit(3 << 8) == "Runtime exited with error: exit status 3"
    assert describe_exit(0) == "Runtime exited without providing a reason"
    assert describe_exit(signal.SIGKILL) == "Runtime exited with error: signal: killed"
    assert describe_exit(signal.SIGSEGV | 0x80) == "Runtime exited with error: signal: segmentation fault (core dumped)"
    assert describe_exit(None) == "Runtime exited without providing a reason"


def test_environment_precedence(tmp_path):
    spec = make_spec(
        str(tmp_path),
        environment={"AWS_REGION": "xx", "_HANDLER": "evil", "AWS_ACCESS_KEY_ID": "user", "TZ": "Europe/Paris",
                     "AWS_ENDPOINT_URL": "http://user", "X": "1"},
        extra_env={"AWS_ACCESS_KEY_ID": "platform", "AWS_ENDPOINT_URL": "http://platform"},
        memory_mb=256,
        version="7",
    )
    env = lambda_environment(spec, log_stream="s", runtime_dir="/rt", python="/opt/py/bin/python3")
    assert env["AWS_REGION"] == "us-east-1" and env["_HANDLER"] == "app.handler"
    assert env["AWS_ACCESS_KEY_ID"] == "platform"  # reserved: platform wins
    assert env["AWS_ENDPOINT_URL"] == "http://user"  # unreserved: the user wins
    assert env["TZ"] == "Europe/Paris" and env["X"] == "1"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and env["AWS_LAMBDA_FUNCTION_VERSION"] == "7"
    assert env["PATH"].startswith("/opt/py/bin:")
    assert env["LAMBDA_RUNTIME_DIR"] == "/rt" and env["LAMBDA_TASK_ROOT"] == str(tmp_path)
    assert "_X_AMZN_TRACE_ID" not in env


def test_log_stream_name():
    name = new_log_stream_name("$LATEST", now=0)
    assert re.fullmatch(r"1970/01/01/\[\$LATEST\][0-9a-f]{32}", name)
    assert new_log_stream_name("3") != new_log_stream_name("3")


def test_engine_imports_no_api_layers():
    import nubis.engine as eng

    root = os.path.dirname(eng.__file__)
    for name in os.listdir(root):
        if name.endswith(".py"):
            lines = Path(root, name).read_text().splitlines()
            imports = [line for line in lines if line.lstrip().startswith(("import ", "from "))]
            assert not any("services" in x or "server" in x for x in imports), name
    rt = os.path.join(os.path.dirname(root), "runtimes", "python", "bootstrap.py")
    assert "nubis" not in "".join(
        line for line in Path(rt).read_text().splitlines() if line.startswith(("import ", "from "))
    )
