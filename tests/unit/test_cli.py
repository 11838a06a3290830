"""The CLI parts that need no server: parsing, zips, --since, payloads, tables, errors, usage text."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import urllib.error
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
    WaiterError,
)

from nubis import cli, cli_args, cli_code, cli_errors, cli_functions, cli_invoke, cli_output, cli_usage
from nubis.billing import Pricing, UsageRecord, summarize

ENDPOINT = "http://127.0.0.1:8750"


# ----------------------------------------------------------------------------- argument parsing


def test_global_options_default_and_env(monkeypatch):
    for var in ("NUBIS_ENDPOINT", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    args = cli.parse_args(["ls"])
    assert (args.endpoint, args.region, args.json) == (ENDPOINT, "us-east-1", False)
    monkeypatch.setenv("NUBIS_ENDPOINT", "http://h:1/")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    args = cli.parse_args(["ls"])
    assert (args.endpoint, args.region) == ("http://h:1", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert cli.parse_args(["ls"]).region == "eu-central-1"


def test_global_options_before_or_after_the_command(monkeypatch):
    monkeypatch.delenv("NUBIS_ENDPOINT", raising=False)
    a = cli.parse_args(["--endpoint", "localhost:9000", "--json", "ls"])
    b = cli.parse_args(["ls", "--endpoint", "localhost:9000", "--json"])
    for args in (a, b):
        assert args.endpoint == "http://localhost:9000" and args.json is True
    # a flag given only before the command is not reset by the sub-command's parser
    assert cli.parse_args(["--region", "ap-south-1", "invoke", "f"]).region == "ap-south-1"


def test_version_is_the_installed_package_version(capsys):
    from importlib.metadata import version
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"nubis {version('nubis')}\n"
    out = subprocess.run([sys.executable, "-m", "nubis", "--version"], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, f"nubis {version('nubis')}")


def test_api_lists_without_an_action():
    assert cli.parse_args(["api"]).action == cli.parse_args(["api", "ls", "--json"]).action == "ls"


def test_deploy_arguments():
    args = cli.parse_args(["deploy", "./fn", "--name", "hello", "--memory", "256",
                           "--env", "A=1", "B=x=y", "--env", "C="])
    assert args.path == "./fn" and args.name == "hello"
    assert args.env == [("A", "1"), ("B", "x=y"), ("C", "")]
    assert cli_functions.config_changes(args) == {"MemorySize": 256, "Environment": {"Variables": {"A": "1", "B": "x=y", "C": ""}}}
    # nothing given -> nothing to update
    assert cli_functions.config_changes(cli.parse_args(["deploy", "./fn", "--name", "x"])) == {}


@pytest.mark.parametrize("argv", [
    ["deploy", "./fn"],                               # --name is required
    ["deploy", "./fn", "--name", "x", "--env", "NOEQUALS"],
    ["deploy", "./fn", "--name", "x", "--memory", "big"],
    ["logs", "f", "--since", "yesterday"],
    ["usage", "--since", "10 parsecs"],
    ["frobnicate"],
])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_args(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_invoke_and_server_arguments(monkeypatch):
    args = cli.parse_args(["invoke", "f", "--async", "--qualifier", "live", "--log", "--payload", "{}"])
    assert (args.async_, args.qualifier, args.log, args.payload) == (True, "live", True, "{}")
    monkeypatch.setenv("NUBIS_DATA_DIR", "/srv/nubis")
    args = cli.parse_args(["server", "--port", "9000", "--keep-alive", "1.5"])
    assert (args.host, args.port, args.data_dir, args.concurrency_limit, args.keep_alive) == (
        "127.0.0.1", 9000, "/srv/nubis", 1000, 1.5)


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "nubis deploy" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["server", "deploy", "invoke", "ls", "logs", "rm", "usage"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_args([command, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert f"nubis {command}" in text and "example:" in text


def test_help_does_not_import_boto3():
    code = "import sys; from nubis import cli\ntry:\n cli.main(['--help'])\nexcept SystemExit: pass\nprint('boto3' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().endswith("False")


# ----------------------------------------------------------------------------- --since


NOW = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("text, seconds_ago", [
    ("30s", 30), ("10m", 600), ("1h", 3600), ("7d", 7 * 86400), ("2w", 14 * 86400), ("1.5h", 5400), (" 5m ", 300),
])
def test_parse_since_durations(text, seconds_ago):
    assert cli_args.parse_since(text, now=NOW) == NOW - seconds_ago


def test_parse_since_iso_times():
    assert cli_args.parse_since("2025-03-01T00:00:00Z") == datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp()
    assert cli_args.parse_since("2025-03-01") == datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp()  # naive = UTC
    assert cli_args.parse_since("2025-03-01T02:00:00+02:00") == datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("text", ["", "10", "m10", "10y", "yesterday", "2025-13-01"])
def test_parse_since_rejects(text):
    with pytest.raises(ValueError, match="expected a duration"):
        cli_args.parse_since(text, now=NOW)


# ----------------------------------------------------------------------------- code packages


def _make_tree(root: Path) -> None:
    (root / "pkg").mkdir(parents=True)
    (root / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__").mkdir()
    (root / "app.py").write_text("def handler(e, c):\n    return e\n")
    (root / "pkg" / "util.py").write_text("X = 1\n")
    (root / "bootstrap").write_text("#!/bin/sh\nexec python3 app.py\n")
    (root / "bootstrap").chmod(0o700)
    (root / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
    (root / "pkg" / "__pycache__" / "util.pyc").write_bytes(b"junk")


def test_zip_directory_is_deterministic_and_keeps_exec_bits(tmp_path):
    _make_tree(tmp_path / "a")
    data = cli_code.zip_directory(tmp_path / "a")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["app.py", "bootstrap", "pkg/util.py"]  # sorted, no __pycache__
        modes = {i.filename: (i.external_attr >> 16) for i in zf.infolist()}
        assert stat.S_IMODE(modes["bootstrap"]) == 0o755
        assert stat.S_IMODE(modes["app.py"]) == 0o644
        assert zf.read("pkg/util.py") == b"X = 1\n"
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
    # same content elsewhere, different mtimes -> byte-identical zip (same CodeSha256)
    _make_tree(tmp_path / "b")
    os.utime(tmp_path / "b" / "app.py", (1_000_000, 1_000_000))
    assert hashlib.sha256(cli_code.zip_directory(tmp_path / "b")).digest() == hashlib.sha256(data).digest()


def test_load_code_accepts_folder_zip_and_single_file(tmp_path):
    _make_tree(tmp_path / "fn")
    from_dir = cli_code.load_code(tmp_path / "fn")
    (tmp_path / "fn.zip").write_bytes(from_dir)
    assert cli_code.load_code(tmp_path / "fn.zip") == from_dir  # a zip is sent as is
    single = cli_code.load_code(tmp_path / "fn" / "app.py")
    with zipfile.ZipFile(io.BytesIO(single)) as zf:
        assert zf.namelist() == ["app.py"]
    with pytest.raises(cli_errors.CliError, match="no such file"):
        cli_code.load_code(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(cli_errors.CliError, match="nothing to deploy"):
        cli_code.load_code(tmp_path / "empty")


# ----------------------------------------------------------------------------- payloads


def test_read_payload(tmp_path):
    assert cli_invoke.read_payload(None) == b"{}"
    assert cli_invoke.read_payload('{"a": 1}') == b'{"a": 1}'
    (tmp_path / "event.json").write_text('{"b": 2}')
    assert cli_invoke.read_payload(f"@{tmp_path / 'event.json'}") == b'{"b": 2}'
    assert cli_invoke.read_payload("-", stdin=io.StringIO("[1, 2]")) == b"[1, 2]"
    with pytest.raises(cli_errors.CliError, match="not valid JSON") as e:
        cli_invoke.read_payload("{nope")
    assert e.value.code == 2
    with pytest.raises(cli_errors.CliError, match="cannot read payload file"):
        cli_invoke.read_payload(f"@{tmp_path / 'missing.json'}")


def test_function_error_line():
    body = json.dumps({"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}).encode()
    assert cli_invoke.function_error_line(body, "Unhandled") == "function error: ValueError: boom"
    assert cli_invoke.function_error_line(b"not json", "Unhandled") == "function error: Unhandled"


# ----------------------------------------------------------------------------- tables and formats


def test_table_aligns_columns():
    text = cli_output.table(["NAME", "MEMORY"], [("hello", 128), ("a-longer-name", 10240), ("x", None)], "lr")
    assert text.splitlines() == [
        "NAME           MEMORY",
        "hello             128",
        "a-longer-name   10240",
        "x                   -",
    ]
    assert cli_output.table(["A", "B"], []) == "A  B"


def test_kv_block_and_formats():
    assert cli_output.kv_block([("arn", "x"), ("state", None)]) == "  arn    x\n  state  -"
    assert cli_output.fmt_money(0) == "$0.00"
    assert cli_output.fmt_money(12.345) == "$12.35"
    assert cli_output.fmt_money(1234.5) == "$1,234.50"
    assert cli_output.fmt_money(0.0000002) == "$0.0000002"
    assert cli_output.fmt_money(0.05 * 0.0000166667) == "$0.0000008333"
    assert cli_output.fmt_money(-0.5) == "-$0.50"
    assert cli_output.fmt_money(0.0000031) == "$0.0000031"
    assert cli_output.fmt_money(0.00000103333) == "$0.000001033"  # four significant digits
    assert cli_output.fmt_price(0.0000166667) == "$0.0000166667"  # prices exactly as configured
    assert cli_output.fmt_price(0.2) == "$0.20"
    assert cli_output.fmt_price(3) == "$3.00"
    assert cli_output.fmt_gbs(0.05) == "0.050"
    assert cli_output.fmt_gbs(0.000125) == "0.000125"
    assert cli_output.fmt_gbs(400000) == "400,000.000"
    assert cli_output.fmt_gbs(0.05, cli_output.gbs_decimals([0.05, 0.000125])) == "0.050000"
    assert cli_output.gbs_decimals([0.0, 2.5]) == 3
    assert cli_output.fmt_bytes(512) == "512 B"
    assert cli_output.fmt_bytes(1536) == "1.5 KiB"
    assert cli_functions.fmt_lambda_time("2024-01-02T03:04:05.678+0000") == "2024-01-02 03:04:05"
    assert cli_functions.fmt_lambda_time("2024-01-02T05:04:05.678+0200") == "2024-01-02 03:04:05"
    assert cli_functions.fmt_lambda_time("whenever") == "whenever"


def test_dump_json_handles_datetimes():
    buf = io.StringIO()
    cli_output.dump_json({"t": datetime(2025, 1, 1, tzinfo=timezone.utc), "s": "é"}, buf)
    assert json.loads(buf.getvalue()) == {"t": "2025-01-01 00:00:00+00:00", "s": "é"}


def test_render_usage():
    start = datetime(2025, 2, 3, tzinfo=timezone.utc).timestamp()
    records = [UsageRecord(f"r{i}", fn, "$LATEST", start, 99.2, 100, 512, 40) for i, fn in enumerate(["a", "b", "b"])]
    text = cli_usage.render_usage(summarize(records, Pricing()))
    lines = text.splitlines()
    assert lines[0].split() == ["FUNCTION", "REQUESTS", "GB-S", "COLD", "COST"]
    assert lines[2].split()[:3] == ["b", "2", "0.100"]
    assert "net cost" in text and "free tier" in text and "totals only" in text
    assert "$0.0000166667 per GB-s x86_64" in text and "$0.20 per 1M requests" in text
    assert "MONTH" not in text  # one month: no months table
    records.append(UsageRecord("r9", "a", "$LATEST", start + 40 * 86400, 1, 1, 128, 40))
    text = cli_usage.render_usage(summarize(records, Pricing()))
    assert "MONTH" in text
    # one number of decimals per GB-S column: 0.000125 GB-s (1 ms at 128 MB) and 0.1 line up
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["b"][2] == "0.100" and rows["2025-03"][2] == "0.000125" and rows["2025-02"][2] == "0.150000"
    assert len({len(rows[m][2]) for m in ("2025-02", "2025-03")}) == 1, text
    assert "totals" in cli_usage.render_usage({})  # tolerant of a sparse document


MONEY = re.compile(r"-?\$[\d,]+\.(\d+)")


def test_render_usage_money_has_one_precision():
    """Every money figure of the report has the same decimals (prices are unit prices: as configured)."""
    start = datetime(2025, 2, 3, tzinfo=timezone.utc).timestamp()
    tiny = [UsageRecord("r1", "hello", "$LATEST", start, 99.2, 100, 512, 40),
            UsageRecord("r2", "resize", "$LATEST", start, 199.2, 200, 512, 40, cold=True)]
    big = [UsageRecord(f"b{i}", "batch", "$LATEST", start + 40 * 86400, 900_000, 900_000, 10240, 40)
           for i in range(3)]
    for records, decimals in ((tiny, 9), (tiny + big, 9), (big, 7)):  # 3 requests cost $0.0000006
        text = cli_usage.render_usage(summarize(records, Pricing()))
        money = [d for line in text.splitlines() if not line.startswith("Prices:") for d in MONEY.findall(line)]
        assert len(money) >= 6 and {len(d) for d in money} == {decimals}, text
        assert "-$0.0" not in text.split("free tier")[0]  # no negative zero
    assert cli_output.money_decimals([0.0, 12.5, -0.5]) == 2
    assert cli_output.money_decimals([0.0000006, 0.0000025000125]) == 7
    assert cli_output.fmt_money(0.0, 7) == "$0.0000000" and cli_output.fmt_money(-0.0, 2) == "$0.00"
    assert cli_output.fmt_money(1234.5, 4) == "$1,234.5000" and cli_output.fmt_money(-0.0000031, 7) == "-$0.0000031"


# ----------------------------------------------------------------------------- errors


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetFunction")


def test_format_error_connection_refused():
    expected = (f"nubis: cannot reach the server at {ENDPOINT} — start it with `nubis server` or pass --endpoint", 2)
    assert cli_errors.format_error(EndpointConnectionError(endpoint_url=ENDPOINT), ENDPOINT) == expected
    assert cli_errors.format_error(urllib.error.URLError(ConnectionRefusedError(111, "refused")), ENDPOINT) == expected
    assert cli_errors.format_error(ConnectionRefusedError(), ENDPOINT) == expected


def test_format_error_client_errors():
    assert cli_errors.format_error(_client_error("ResourceNotFoundException", "Function not found: arn:x"), ENDPOINT) == (
        "nubis: ResourceNotFoundException: Function not found: arn:x (see `nubis ls`)", 1)
    assert cli_errors.format_error(_client_error("InvalidParameterValueException", "bad memory"), ENDPOINT) == (
        "nubis: InvalidParameterValueException: bad memory", 1)


def test_format_error_other_botocore_errors():
    msg, code = cli_errors.format_error(ParamValidationError(report="MemorySize is not an int"), ENDPOINT)
    assert code == 2 and "MemorySize" in msg
    msg, code = cli_errors.format_error(ReadTimeoutError(endpoint_url=ENDPOINT), ENDPOINT)
    assert code == 1 and "did not answer in time" in msg
    waiter = WaiterError(name="FunctionActiveV2", reason="terminal failure state",
                         last_response={"Configuration": {"State": "Failed", "StateReason": "bad zip"}})
    assert cli_errors.format_error(waiter, ENDPOINT) == ("nubis: the function did not become ready: bad zip", 1)
    assert cli_errors.format_error(cli_errors.CliError("no such file", 2), ENDPOINT) == ("nubis: no such file", 2)
    assert cli_errors.format_error(ZeroDivisionError(), ENDPOINT) is None


def test_main_prints_one_line_not_a_traceback(capsys):
    # Port 1 on localhost refuses connections: every server-backed command reports it the same way.
    for argv in (["ls"], ["usage"], ["rm", "f", "--yes"]):
        assert cli.main(["--endpoint", "http://127.0.0.1:1", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("nubis: cannot reach the server at http://127.0.0.1:1") and "Traceback" not in err
    assert cli.main(["invoke", "f", "--payload", "{bad"]) == 2
    assert capsys.readouterr().err.startswith("nubis: payload from --payload is not valid JSON")


def test_main_reports_unexpected_errors_in_one_line(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("kaput")
    monkeypatch.setattr(cli, "cmd_ls", boom)
    monkeypatch.delenv("NUBIS_DEBUG", raising=False)
    assert cli.main(["ls"]) == 1
    assert capsys.readouterr().err.startswith("nubis: unexpected error: RuntimeError: kaput")


def test_server_command_wires_arguments(monkeypatch, tmp_path):
    """`nubis server` calls nubis.server.app.serve with the parsed options."""
    import types
    calls = []
    fake = types.ModuleType("nubis.server.app")
    fake.serve = lambda **kw: calls.append(kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nubis.server.app", fake)
    assert cli.main(["server", "--port", "9999", "--data-dir", str(tmp_path / "d"),
                     "--concurrency-limit", "5", "--keep-alive", "30", "--async-retry-scale", "0.5",
                     "--credentials", "a.ini", "--credentials", "b.ini", "--verify-signatures", "strict"]) == 0
    assert calls == [{"host": "127.0.0.1", "port": 9999, "data_dir": tmp_path / "d",
                      "account_concurrency": 5, "keep_alive_s": 30.0, "async_retry_scale": 0.5,
                      "credentials_files": ["a.ini", "b.ini"], "verify_signatures": "strict"}]
    assert (tmp_path / "d").is_dir()
