"""The `nubis` command against a real server: deploy, invoke, ls, logs (incl. --follow), usage, rm,
and how it reports errors. Each command runs as its own process, as a user would run it."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nubis_testing import create_function, make_zip, start_server, stop_server, unique

DEADLINE_S = 60  # generous: the machine may be loaded; polls return as soon as the condition holds
UNREACHABLE = "http://127.0.0.1:1"
REPORT = re.compile(r"^REPORT RequestId: (\S+)\tDuration: \d+\.\d\d ms\tBilled Duration: (\d+) ms\t"
                    r"Memory Size: (\d+) MB\tMax Memory Used: \d+ MB\t", re.M)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

APP = """
import os
def handler(event, context):
    print("handler saw", event)
    if event.get("fail"):
        raise ValueError(event["fail"])
    return {"version": VERSION, "event": event, "key": os.environ.get("KEY"), "memory": context.memory_limit_in_mb}
"""


def app(version: int) -> str:
    return f"VERSION = {version}\n" + APP


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without AWS / nubis settings that would change what the CLI does."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("AWS_") and k != "AWS_CA_BUNDLE") and not k.startswith("NUBIS_")}
    env.update(extra)
    return env


def run(*args: str, endpoint: str | None, cwd: Path | None = None, input: str | None = None,
        env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "nubis", *args] + (["--endpoint", endpoint] if endpoint else [])
    return subprocess.run(argv, cwd=cwd, input=input if input is not None else "", capture_output=True, text=True,
                          env=env or clean_env(), timeout=timeout)


@pytest.fixture
def nubis(server, tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """`nubis(*args)` runs `python -m nubis ARGS --endpoint <server>` in a scratch folder."""
    def call(*args: str, ok: bool = True, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("cwd", tmp_path)
        proc = run(*args, endpoint=kwargs.pop("endpoint", server.endpoint), **kwargs)
        if ok:
            assert proc.returncode == 0, f"nubis {' '.join(args)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
            assert proc.stderr == "" or "Traceback" not in proc.stderr
        return proc
    return call


def poll(what: str, probe: Callable[[], object], deadline_s: float = DEADLINE_S, interval: float = 0.2):
    deadline = time.monotonic() + deadline_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(interval)


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def folder(root: Path, version: int, name: str = "fn") -> Path:
    path = root / name
    path.mkdir(exist_ok=True)
    (path / "app.py").write_text(app(version))
    (path / "__pycache__").mkdir(exist_ok=True)
    (path / "__pycache__" / "junk.pyc").write_bytes(os.urandom(16))  # must not be deployed
    return path


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# --------------------------------------------------------------------------- deploy


def test_deploy_folder_creates_then_updates(nubis, lam, tmp_path):
    name = unique("cli")
    src = folder(tmp_path, 1)
    proc = nubis("deploy", str(src), "--name", name)
    assert proc.stdout.splitlines()[0] == f"created function {name}"
    assert f"arn      arn:aws:lambda:us-east-1:000000000000:function:{name}" in proc.stdout
    assert "memory   128 MB  timeout 3 s" in proc.stdout and re.search(r"^  state +Active$", proc.stdout, re.M)
    cfg = lam.get_function_configuration(FunctionName=name)
    assert (cfg["Runtime"], cfg["Handler"], cfg["MemorySize"], cfg["Timeout"]) == ("python3.12", "app.handler", 128, 3)
    assert cfg["Role"] == "arn:aws:iam::000000000000:role/nubis-default"
    assert cfg["State"] == "Active" and cfg["LastUpdateStatus"] == "Successful"
    first_sha = cfg["CodeSha256"]
    assert json.loads(nubis("invoke", name).stdout) == {"version": 1, "event": {}, "key": None, "memory": "128"}

    src = folder(tmp_path, 2)
    proc = nubis("deploy", str(src), "--name", name, "--memory", "256", "--env", "KEY=V", "OTHER=x=y")
    assert proc.stdout.splitlines()[0] == f"updated function {name}"
    assert "memory   256 MB  timeout 3 s" in proc.stdout
    cfg = lam.get_function_configuration(FunctionName=name)
    assert cfg["MemorySize"] == 256 and cfg["Timeout"] == 3 and cfg["LastUpdateStatus"] == "Successful"
    assert cfg["Environment"] == {"Variables": {"KEY": "V", "OTHER": "x=y"}}
    assert cfg["CodeSha256"] != first_sha
    out = json.loads(nubis("invoke", name, "--payload", '{"n": 2}').stdout)
    assert out == {"version": 2, "event": {"n": 2}, "key": "V", "memory": "256"}

    # same folder again: a reproducible zip (same CodeSha256, __pycache__ left out); settings not
    # given stay as they are
    (src / "__pycache__" / "junk.pyc").write_bytes(os.urandom(16))
    again = json.loads(nubis("deploy", str(src), "--name", name, "--json").stdout)
    assert again["CodeSha256"] == cfg["CodeSha256"] and again["MemorySize"] == 256
    assert again["Environment"] == {"Variables": {"KEY": "V", "OTHER": "x=y"}}
    assert again["FunctionName"] == name and "ResponseMetadata" not in again


def test_deploy_zip_and_single_file(nubis, lam, tmp_path):
    name = unique("cli")
    zipped = tmp_path / "pkg.zip"
    zipped.write_bytes(make_zip({"main.py": app(7), "lib/data.txt": "x"}))
    cfg = json.loads(nubis("deploy", str(zipped), "--name", name, "--handler", "main.handler",
                           "--timeout", "10", "--memory", "512", "--json").stdout)
    assert cfg["CodeSha256"] == sha256_b64(zipped.read_bytes())  # a .zip is uploaded as is
    assert (cfg["Handler"], cfg["Timeout"], cfg["MemorySize"], cfg["State"]) == ("main.handler", 10, 512, "Active")
    assert json.loads(nubis("invoke", name).stdout)["version"] == 7

    single = unique("cli")
    source = tmp_path / "single.py"
    source.write_text(app(8))
    nubis("deploy", str(source), "--name", single, "--handler", "single.handler")
    assert json.loads(nubis("invoke", single).stdout)["version"] == 8


def test_deploy_errors(nubis, tmp_path):
    proc = nubis("deploy", str(tmp_path / "missing"), "--name", unique("cli"), ok=False)
    assert proc.returncode == 2 and one_error_line(proc.stderr).startswith("nubis: no such file or folder:")
    # out of range for the API: one line, no traceback
    proc = nubis("deploy", str(folder(tmp_path, 1)), "--name", unique("cli"), "--memory", "64", ok=False)
    assert proc.returncode == 2 and "MemorySize" in one_error_line(proc.stderr)
    # AWS's env key pattern [a-zA-Z]([a-zA-Z0-9_])+ wants two characters at least
    proc = nubis("deploy", str(folder(tmp_path, 1)), "--name", unique("cli"), "--env", "K=V", ok=False)
    assert proc.returncode == 1
    assert one_error_line(proc.stderr).startswith("nubis: ValidationException: 1 validation error detected")


# --------------------------------------------------------------------------- invoke


def test_invoke_payload_forms_and_log(nubis, lam, tmp_path):
    name = create_function(lam, app(1))
    proc = nubis("invoke", name, "--payload", '{"name": "Ada"}')
    assert proc.stdout == json.dumps({"version": 1, "event": {"name": "Ada"}, "key": None, "memory": "128"},
                                     indent=2) + "\n"
    assert proc.stderr == ""

    (tmp_path / "event.json").write_text('{"from": "file"}')
    assert json.loads(nubis("invoke", name, "--payload", "@event.json").stdout)["event"] == {"from": "file"}
    assert json.loads(nubis("invoke", name, "--payload", "-", input='{"from": "stdin"}').stdout)["event"] == {
        "from": "stdin"}

    proc = nubis("invoke", name, "--payload", '{"n": 3}', "--log")
    assert json.loads(proc.stdout)["event"] == {"n": 3}
    log = proc.stderr
    rid = re.match(rf"^START RequestId: ({UUID}) Version: \$LATEST$", log, re.M).group(1)
    assert "handler saw {'n': 3}\n" in log and f"END RequestId: {rid}\n" in log
    m = REPORT.search(log)
    assert m and m.group(1) == rid and m.group(3) == "128"

    doc = json.loads(nubis("invoke", name, "--payload", '{"n": 4}', "--log", "--json").stdout)
    assert doc["StatusCode"] == 200 and doc["ExecutedVersion"] == "$LATEST" and doc["FunctionError"] is None
    assert doc["Payload"]["event"] == {"n": 4} and "handler saw {'n': 4}" in doc["LogResult"]

    proc = nubis("invoke", name, "--payload", "{not json", ok=False)
    assert proc.returncode == 2
    assert one_error_line(proc.stderr).startswith("nubis: payload from --payload is not valid JSON")
    proc = nubis("invoke", name, "--payload", "@no-such-file.json", ok=False)
    assert proc.returncode == 2 and one_error_line(proc.stderr).startswith("nubis: cannot read payload file")


def test_invoke_function_error(nubis, lam):
    name = create_function(lam, app(1))
    proc = nubis("invoke", name, "--payload", '{"fail": "boom"}', ok=False)
    assert proc.returncode == 1
    err = json.loads(proc.stdout)
    assert err["errorType"] == "ValueError" and err["errorMessage"] == "boom" and err["stackTrace"]
    assert one_error_line(proc.stderr) == "function error: ValueError: boom"

    proc = nubis("invoke", name, "--payload", '{"fail": "boom"}', "--log", ok=False)
    assert proc.returncode == 1 and proc.stderr.splitlines()[-1] == "function error: ValueError: boom"
    assert "[ERROR] ValueError: boom" in proc.stderr and "\nREPORT RequestId: " in proc.stderr

    proc = nubis("invoke", name, "--payload", '{"fail": "boom"}', "--json", ok=False)
    assert proc.returncode == 1 and json.loads(proc.stdout)["FunctionError"] == "Unhandled"

    proc = nubis("invoke", name, "--payload", '{"fail": "first line\\nsecond line"}', ok=False)
    assert proc.returncode == 1 and json.loads(proc.stdout)["errorMessage"] == "first line\nsecond line"
    assert one_error_line(proc.stderr) == "function error: ValueError: first line; second line"


def test_invoke_async(nubis, lam):
    name = create_function(lam, app(1))
    proc = nubis("invoke", name, "--async", "--payload", '{"async": true}')
    m = re.fullmatch(rf"queued \(202\) request id ({UUID})\n", proc.stdout)
    assert m, proc.stdout
    rid = m.group(1)

    def ran():
        text = nubis("logs", name).stdout
        return f"END RequestId: {rid}\n" in text and text

    text = poll("the async event to run", ran, interval=0.3)
    assert f"START RequestId: {rid} Version: $LATEST\nhandler saw {{'async': True}}\n" in text

    doc = json.loads(nubis("invoke", name, "--async", "--json").stdout)
    assert doc["StatusCode"] == 202 and re.fullmatch(UUID, doc["RequestId"])


# --------------------------------------------------------------------------- ls, logs, rm


def test_ls_table_and_json(server, nubis, lam):
    name = create_function(lam, app(1), MemorySize=384, Timeout=12)
    lines = nubis("ls").stdout.splitlines()
    assert re.fullmatch(r"NAME +RUNTIME +MEMORY \(MB\) +TIMEOUT \(S\) +LAST MODIFIED \(UTC\) +STATE +TRIGGERS",
                        lines[0])
    row = [line for line in lines[1:] if line.split()[0] == name]
    assert len(row) == 1
    assert re.fullmatch(rf"{name} +python3\.12 +384 +12 +\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d +Active +-", row[0]), row
    # columns line up under their headers
    assert lines[0].index("STATE") == row[0].index("Active")
    assert lines[0].index("RUNTIME") == row[0].index("python3.12")

    doc = json.loads(nubis("ls", "--json").stdout)
    assert list(doc) == ["Functions"]
    mine = [f for f in doc["Functions"] if f["FunctionName"] == name]
    assert len(mine) == 1 and mine[0]["MemorySize"] == 384 and mine[0]["Timeout"] == 12
    assert mine[0]["Triggers"] == []
    # global options before the command, endpoint from the environment
    proc = run("--json", "ls", endpoint=None, env=clean_env(NUBIS_ENDPOINT=server.endpoint))
    assert proc.returncode == 0 and json.loads(proc.stdout) == doc


def test_ls_json_lists_every_page(server, tmp_path):
    """More functions than one ListFunctions page (50) in an account of their own."""
    account = "666666666666"
    lam = server.client("lambda", account=account)
    names = sorted(create_function(lam, app(1), wait=False) for _ in range(55))
    proc = run("ls", "--json", endpoint=server.endpoint,
               env=clean_env(AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="x"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(f["FunctionName"] for f in json.loads(proc.stdout)["Functions"]) == names
    table = run("ls", endpoint=server.endpoint, env=clean_env(AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="x"))
    assert sorted(line.split()[0] for line in table.stdout.splitlines()[1:]) == names


def test_logs(nubis, lam):
    name = create_function(lam, app(1))
    never = unique("never")
    proc = nubis("logs", never)  # no log group yet: said on stderr, exit 0
    assert proc.stdout == "" and "no logs for" in one_error_line(proc.stderr)
    assert "no function of that name either" in proc.stderr  # a typo is not "no logs yet"
    proc = nubis("logs", name)  # created, never invoked
    assert proc.returncode == 0 and proc.stderr.strip() == (
        f"nubis: no logs for {name} yet (log group /aws/lambda/{name} does not exist)")

    rids = []
    for i in range(2):
        log = nubis("invoke", name, "--payload", json.dumps({"i": i}), "--log").stderr
        rids.append(re.search(rf"START RequestId: ({UUID})", log).group(1))

    def complete():
        text = nubis("logs", name).stdout
        return f"REPORT RequestId: {rids[-1]}\t" in text and text

    text = poll("both invocations in `nubis logs`", complete)
    lines = text.splitlines()
    assert lines[0].startswith("INIT_START Runtime Version: python:")
    for i, rid in enumerate(rids):
        start = lines.index(f"START RequestId: {rid} Version: $LATEST")
        assert lines[start + 1] == f"handler saw {{'i': {i}}}"
        assert lines[start + 2] == f"END RequestId: {rid}"
        assert REPORT.match(lines[start + 3]).group(1) == rid
    assert lines.index(f"START RequestId: {rids[0]} Version: $LATEST") < lines.index(
        f"START RequestId: {rids[1]} Version: $LATEST")

    doc = json.loads(nubis("logs", name, "--json").stdout)
    assert doc["logGroupName"] == f"/aws/lambda/{name}"
    assert [e["message"].rstrip("\n") for e in doc["events"]] == lines
    assert nubis("logs", name, "--since", "1h").stdout == text
    assert nubis("logs", name, "--since", "2999-01-01").stdout == ""
    # --filter takes CloudWatch Logs filter patterns; a malformed one is AWS's error
    assert nubis("logs", name, "--filter", '?"START RequestId" ?"END RequestId"').stdout.splitlines() == [
        line for line in lines if line.startswith(("START", "END"))]
    assert nubis("logs", name, "--filter", "[word, ..., v = 1}]").stdout.splitlines() == ["handler saw {'i': 1}"]
    bad = nubis("logs", name, "--filter", "{ $.x = ", ok=False)
    assert bad.returncode != 0 and "If a filter pattern starts with '{' it must end with '}'" in bad.stderr

    # a function whose LoggingConfig names its own group: `nubis logs` reads that group
    group = f"/custom/{name}"
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogGroup": group, "LogFormat": "Text"})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    rid = re.search(rf"START RequestId: ({UUID})", nubis("invoke", name, "--log").stderr).group(1)
    started = f"START RequestId: {rid} Version: $LATEST"

    def moved():
        doc = json.loads(nubis("logs", name, "--json").stdout)
        return any(e["message"].startswith(started) for e in doc["events"]) and doc

    assert poll("the invocation in the custom group", moved)["logGroupName"] == group


def test_logs_follow(server, nubis, lam, tmp_path):
    name = create_function(lam, app(1))  # never run: no log group yet, --follow waits for the first events
    out_path, err_path = tmp_path / "follow.out", tmp_path / "follow.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        # SIGINT's default action restored: a shell may start us with it ignored, and Python then keeps it so
        argv = [sys.executable, "-m", "nubis", "logs", name, "--follow", "--endpoint", server.endpoint]
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=clean_env(PYTHONUNBUFFERED="1"),
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        rids = []
        for i in range(2):
            marker = unique("follow")
            log = nubis("invoke", name, "--payload", json.dumps({"marker": marker}), "--log").stderr
            rid = re.search(rf"START RequestId: ({UUID})", log).group(1)
            rids.append(rid)
            poll(f"invocation {i + 1} in --follow", lambda: f"REPORT RequestId: {rid}\t" in out_path.read_text())
            assert f"handler saw {{'marker': '{marker}'}}\n" in out_path.read_text()
        assert proc.poll() is None  # still following
        lines = out_path.read_text().splitlines()
        for rid in rids:  # each event printed once, in order
            assert lines.count(f"START RequestId: {rid} Version: $LATEST") == 1
            assert lines.count(f"END RequestId: {rid}") == 1
        assert lines.index(f"END RequestId: {rids[0]}") < lines.index(f"START RequestId: {rids[1]} Version: $LATEST")
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0
    assert "Traceback" not in err_path.read_text()


def test_rm(nubis, lam):
    name = create_function(lam, app(1))
    proc = nubis("rm", name, "--yes")
    assert proc.stdout == f"deleted function {name}\n"
    assert name not in [line.split()[0] for line in nubis("ls").stdout.splitlines()[1:]]
    assert name not in [f["FunctionName"] for f in json.loads(nubis("ls", "--json").stdout)["Functions"]]
    proc = nubis("invoke", name, ok=False)
    assert proc.returncode == 1 and "ResourceNotFoundException" in one_error_line(proc.stderr)

    # stdin is not a terminal: no question asked
    other = create_function(lam, app(1))
    assert nubis("rm", other, input="").stdout == f"deleted function {other}\n"
    proc = nubis("rm", other, "--yes", ok=False)
    assert proc.returncode == 1
    assert one_error_line(proc.stderr) == (
        f"nubis: ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:{other}"
        " (see `nubis ls`)")


# --------------------------------------------------------------------------- usage


def test_usage(nubis, lam):
    name = unique("cli")
    memory = 256
    create_function(lam, app(1), name=name, MemorySize=memory)
    billed = []
    for i in range(3):
        doc = json.loads(nubis("invoke", name, "--payload", json.dumps({"i": i}), "--log", "--json").stdout)
        m = REPORT.search(doc["LogResult"])
        assert m and int(m.group(3)) == memory
        billed.append(int(m.group(2)))
    proc = nubis("invoke", name, "--payload", '{"fail": "x"}', "--log", "--json", ok=False)
    assert proc.returncode == 1
    billed.append(int(REPORT.search(json.loads(proc.stdout)["LogResult"]).group(2)))
    expected_gbs = sum(memory / 1024 * ms / 1000 for ms in billed)

    def recorded():
        doc = json.loads(nubis("usage", "--json", "--function", name).stdout)
        return doc["totals"]["requests"] == len(billed) and doc

    doc = poll("the usage records", recorded)
    [row] = doc["functions"]
    assert row["function"] == name and row["requests"] == 4
    assert row["billed_ms"] == sum(billed)
    assert row["gb_seconds"] == pytest.approx(expected_gbs, rel=1e-9, abs=1e-12)
    assert row["cold_starts"] == 1 and row["outcomes"] == {"success": 3, "error": 1}
    pricing = doc["pricing"]
    assert row["request_cost"] == pytest.approx(4 * pricing["request_price_per_million"] / 1e6)
    assert row["compute_cost"] == pytest.approx(expected_gbs * pricing["gb_second_price"])
    assert doc["totals"]["gb_seconds"] == pytest.approx(expected_gbs)
    assert doc["totals"]["net_cost"] == 0  # well inside the free tier

    everything = json.loads(nubis("usage", "--json").stdout)
    assert [f for f in everything["functions"] if f["function"] == name] == [row]
    assert everything["totals"]["requests"] >= 4

    text = nubis("usage", "--function", name).stdout
    assert re.search(rf"^{name} +4 +[\d.]+ +1 +\$[\d.]+$", text, re.M), text
    assert re.search(r"^  requests +4$", text, re.M) and "net cost" in text and "Prices: $0.20 per 1M requests" in text

    future = json.loads(nubis("usage", "--json", "--function", name, "--since", "2999-01-01").stdout)
    assert future["totals"]["requests"] == 0 and future["functions"] == []


def test_usage_bills_arm64_at_the_arm64_price(nubis, tmp_path):
    name = unique("arm")
    cfg = json.loads(nubis("deploy", str(folder(tmp_path, 1)), "--name", name, "--architecture", "arm64",
                           "--json").stdout)
    assert cfg["Architectures"] == ["arm64"]
    nubis("invoke", name)

    def recorded():
        doc = json.loads(nubis("usage", "--json", "--function", name).stdout)
        return doc["totals"]["requests"] == 1 and doc

    totals = poll("the usage record", recorded)["totals"]
    assert totals["gb_seconds_x86_64"] == 0 and totals["gb_seconds_arm64"] == pytest.approx(totals["gb_seconds"])


def test_usage_prices_from_pricing_toml(tmp_path):
    """A server of its own, so its pricing.toml changes nothing for the other tests."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "pricing.toml").write_text("request_price_per_million = 1.0\nfree_requests_per_month = 0\n")
    srv = start_server(data)
    try:
        (tmp_path / "fn").mkdir()
        (tmp_path / "fn" / "app.py").write_text(app(1))
        assert run("deploy", str(tmp_path / "fn"), "--name", "priced", endpoint=srv.endpoint).returncode == 0
        for _ in range(2):
            assert run("invoke", "priced", endpoint=srv.endpoint).returncode == 0

        def recorded():
            doc = json.loads(run("usage", "--json", endpoint=srv.endpoint).stdout)
            return doc["totals"]["requests"] == 2 and doc

        doc = poll("the usage records", recorded)
        assert doc["pricing"]["request_price_per_million"] == 1.0 and doc["pricing"]["free_requests_per_month"] == 0
        assert doc["totals"]["request_cost"] == pytest.approx(2e-6)
        assert doc["totals"]["free_requests"] == 0 and doc["totals"]["net_cost"] > 0
        text = run("usage", endpoint=srv.endpoint).stdout
        assert "Prices: $1.00 per 1M requests" in text and "set in the server's <data-dir>/pricing.toml" in text
        assert "0 requests and 400,000 GB-s per calendar month" in text

        (data / "pricing.toml").write_text("bogus = 1\n")  # read on every request: no restart needed
        proc = run("usage", endpoint=srv.endpoint)
        assert proc.returncode == 1 and proc.stdout == ""
        line = one_error_line(proc.stderr)
        assert line.startswith("nubis: ValidationException: ") and "unknown key 'bogus'" in line
    finally:
        stop_server(srv)


# --------------------------------------------------------------------------- errors and help


def test_unknown_function(nubis):
    missing = unique("missing")
    proc = nubis("invoke", missing, ok=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert one_error_line(proc.stderr) == (
        f"nubis: ResourceNotFoundException: Function not found: "
        f"arn:aws:lambda:us-east-1:000000000000:function:{missing}:$LATEST (see `nubis ls`)")


@pytest.mark.parametrize("argv", [["ls"], ["invoke", "f"], ["logs", "f"], ["usage"], ["rm", "f", "--yes"],
                                  ["deploy", ".", "--name", "f"]])
def test_unreachable_server(argv, tmp_path):
    (tmp_path / "app.py").write_text(app(1))
    proc = run(*argv, endpoint=UNREACHABLE, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert one_error_line(proc.stderr) == (
        f"nubis: cannot reach the server at {UNREACHABLE} — start it with `nubis server` or pass --endpoint")
    proc = run(*argv, endpoint=None, cwd=tmp_path, env=clean_env(NUBIS_ENDPOINT="127.0.0.1:1"))
    assert proc.returncode == 2 and "cannot reach the server at http://127.0.0.1:1 " in one_error_line(proc.stderr)


def test_help():
    proc = run("--help", endpoint=None)
    assert proc.returncode == 0 and proc.stderr == ""
    for command in ("server", "deploy", "invoke", "ls", "logs", "rm", "usage"):
        assert re.search(rf"^    {command} ", proc.stdout, re.M), command
    proc = run("deploy", "--help", endpoint=None)
    assert proc.returncode == 0 and proc.stderr == ""
    for option in ("--name", "--runtime", "--handler", "--memory", "--timeout", "--env", "--role", "--endpoint"):
        assert option in proc.stdout
    for command in ("invoke", "ls", "logs", "rm", "usage", "server"):
        assert run(command, "--help", endpoint=None).returncode == 0
    proc = run(endpoint=None)  # no command: usage on stderr, exit 2
    assert proc.returncode == 2 and "usage: nubis" in proc.stderr


def test_publish_alias_and_url(nubis, lam, server):
    name = create_function(lam, "def handler(event, context):\n    return {'statusCode': 200, 'body': 'v' + context.function_version}\n")
    assert "version 1" in nubis("publish", name, "--description", "first").stdout
    lam.update_function_configuration(FunctionName=name, Timeout=9)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    assert "version 2" in nubis("publish", name).stdout
    assert "-> version 1" in nubis("alias", name, "live", "1", "--weight", "2=0.5").stdout
    listed = json.loads(nubis("alias", name, "--json").stdout)["Aliases"]
    assert listed[0]["Name"] == "live" and listed[0]["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.5}
    nubis("alias", name, "live", "2")
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2"
    bad = nubis("alias", name, "live", "2", "--weight", "oops", ok=False)
    assert bad.returncode == 2 and "VERSION=WEIGHT" in bad.stderr

    url = nubis("url", name, "--json").stdout
    doc = json.loads(url)
    assert doc["AuthType"] == "NONE" and doc["FunctionUrl"].startswith("http://")
    import urllib.request

    with urllib.request.urlopen(doc["PathFormUrl"]) as resp:
        assert resp.read() == b"v$LATEST"
    assert nubis("url", name).stdout.strip() == doc["FunctionUrl"]  # existing URL: printed again, not recreated
    nubis("alias", name, "live", "--rm")


def test_url_on_an_existing_url(nubis, lam):
    """A URL made elsewhere without the public statement: `nubis url` adds it (the printed URL works);
    --auth and --cors-origin change an existing URL."""
    import urllib.error
    import urllib.request

    name = create_function(lam, "def handler(event, context):\n    return 'hi'\n")
    lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    doc = json.loads(nubis("url", name, "--json").stdout)
    with urllib.request.urlopen(doc["PathFormUrl"]) as resp:
        assert resp.read() == b"hi"
    nubis("url", name)  # the statement exists already: no error
    changed = json.loads(nubis("url", name, "--auth", "AWS_IAM", "--cors-origin", "https://a.example", "--json").stdout)
    assert changed["AuthType"] == "AWS_IAM" and changed["Cors"]["AllowOrigins"] == ["https://a.example"]
    with pytest.raises(urllib.error.HTTPError) as refused:  # unsigned requests are refused now
        urllib.request.urlopen(doc["PathFormUrl"])
    assert refused.value.code == 403
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []


def test_layer_command(nubis, tmp_path):
    layer_dir = tmp_path / "layer" / "python"
    layer_dir.mkdir(parents=True)
    (layer_dir / "helper.py").write_text("X = 1\n")
    name = unique("layer")
    arn = nubis("layer", name, str(tmp_path / "layer"), "--runtime", "python3.12").stdout.strip()
    assert arn.endswith(f":layer:{name}:1")
    assert name in nubis("layer").stdout
    versions = json.loads(nubis("layer", name, "--json").stdout)["LayerVersions"]
    assert [v["Version"] for v in versions] == [1] and versions[0]["CompatibleRuntimes"] == ["python3.12"]
    missing = nubis("layer", unique("nolayer"), ok=False)
    assert missing.returncode == 1 and "no layer named" in missing.stderr

    # deploy with the layer: the handler imports from /opt/python; `--layers` alone removes it
    fn_dir = tmp_path / "fn"
    fn_dir.mkdir()
    (fn_dir / "app.py").write_text("def handler(event, context):\n    import helper\n    return helper.X\n")
    fn = unique("withlayer")
    nubis("deploy", str(fn_dir), "--name", fn, "--layers", arn)
    assert nubis("invoke", fn).stdout.strip() == "1"
    nubis("deploy", str(fn_dir), "--name", fn, "--layers")
    assert "No module named 'helper'" in nubis("invoke", fn, ok=False).stdout + nubis("invoke", fn, ok=False).stderr


def test_ls_shows_bucket_triggers(server, nubis, lam):
    name = create_function(lam, app(1))
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    s3 = server.client("s3")
    buckets = [unique("trig"), unique("trig")]
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
        lam.add_permission(FunctionName=name, StatementId=bucket, Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}")
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]},
                                             {"LambdaFunctionArn": arn, "Events": ["s3:ObjectRemoved:*"]}]})
    row = [line for line in nubis("ls").stdout.splitlines() if line.split()[0] == name]
    assert row[0].endswith(f"s3:{buckets[0]}, s3:{buckets[1]}") or row[0].endswith(f"s3:{buckets[1]}, s3:{buckets[0]}")
    doc = json.loads(nubis("ls", "--json").stdout)
    mine = [f for f in doc["Functions"] if f["FunctionName"] == name][0]
    assert sorted(mine["Triggers"]) == sorted(f"s3:{b}" for b in buckets)


def test_api_ls(server, nubis, lam):
    account = "777777777777"
    env = clean_env(AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="x")
    empty = run("api", "ls", endpoint=server.endpoint, env=env)
    assert empty.returncode == 0 and empty.stdout == "" and "no APIs yet" in empty.stderr
    name = create_function(lam, app(1))
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    apigw = server.client("apigatewayv2", account=account)
    quick = apigw.create_api(Name="quick", ProtocolType="HTTP", Target=arn)
    staged = apigw.create_api(Name="staged", ProtocolType="HTTP")
    integration = apigw.create_integration(ApiId=staged["ApiId"], IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                           PayloadFormatVersion="2.0")
    apigw.create_route(ApiId=staged["ApiId"], RouteKey="GET /items/{id}",
                       Target="integrations/" + integration["IntegrationId"])
    apigw.create_stage(ApiId=staged["ApiId"], StageName="dev")
    rest = server.client("apigateway", account=account)
    rest_api = rest.create_rest_api(name="classic")
    root = rest.get_resources(restApiId=rest_api["id"])["items"][0]["id"]
    items = rest.create_resource(restApiId=rest_api["id"], parentId=root, pathPart="items")
    rest.put_method(restApiId=rest_api["id"], resourceId=items["id"], httpMethod="POST", authorizationType="NONE")
    rest.put_integration(restApiId=rest_api["id"], resourceId=items["id"], httpMethod="POST", type="AWS_PROXY",
                         integrationHttpMethod="POST",
                         uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations")
    rest.create_deployment(restApiId=rest_api["id"], stageName="prod")

    text = run("api", "ls", endpoint=server.endpoint, env=env)
    assert text.returncode == 0, text.stderr
    port = server.endpoint.rsplit(":", 1)[1]
    assert f"{quick['ApiId']}  quick  (HTTP)" in text.stdout
    assert f"stage $default: http://{quick['ApiId']}.execute-api.localhost:{port}/" in text.stdout
    assert f"{server.endpoint}/_aws/execute-api/{quick['ApiId']}/  (no DNS needed)" in text.stdout
    assert re.search(rf"\$default +-> +function:{name}", text.stdout)
    assert f"stage dev: http://{staged['ApiId']}.execute-api.localhost:{port}/dev" in text.stdout
    assert re.search(rf"GET /items/{{id}} +-> +function:{name}", text.stdout)
    assert f"{rest_api['id']}  classic  (REST)" in text.stdout
    assert f"stage prod: http://{rest_api['id']}.execute-api.localhost:{port}/prod" in text.stdout
    assert re.search(rf"POST /items +-> +function:{name}", text.stdout)

    doc = json.loads(run("api", "ls", "--json", endpoint=server.endpoint, env=env).stdout)
    by_id = {a["ApiId"]: a for a in doc["Apis"]}
    assert set(by_id) == {quick["ApiId"], staged["ApiId"], rest_api["id"]}
    assert by_id[rest_api["id"]]["Protocol"] == "REST"
    assert by_id[staged["ApiId"]]["Routes"] == [{"RouteKey": "GET /items/{id}", "Target": f"function:{name}"}]
    assert by_id[staged["ApiId"]]["Urls"]["dev"][1] == f"{server.endpoint}/_aws/execute-api/{staged['ApiId']}/dev"
