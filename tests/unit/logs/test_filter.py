from __future__ import annotations

from collections import defaultdict

import pytest

from nubis.server.errors import AwsError
from nubis.services.logs.patterns import compile_pattern


G = "/aws/lambda/fn"

ACCESS = '1.2.3.4 bob - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" {status} {size}'


@pytest.mark.parametrize("pattern, message, expected", [
    ("ERROR", "[ERROR] boom", True),
    ("ERROR", "error boom", False),  # case-sensitive
    ('"timed out" ERROR', "ERROR: Task timed out", True),
    ("?ERROR ?WARN", "WARN slow", True),
    ("?ERROR ?WARN", "INFO fine", False),
    ("ERROR -Exiting", "ERROR Exiting now", False),
    ("ERROR -Exiting", "ERROR go on", True),
    (r"%ERR(OR)?\d+%", "code ERROR42", True),
    (r"%ERR(OR)?\d+%", "code ERROR", False),
    ('{ $.level = "ERROR" }', '{"level":"ERROR"}\n', True),
    ('{ $.level = "ERROR" }', "level ERROR", False),  # not JSON: never matches
    ("{ $.level = ERR* }", '{"level":"ERROR"}', True),
    ('{ $.level != "ERROR" }', '{"level":"INFO"}', True),
    ("{ $.n > 5 && $.s = ab* }", '{"n":7,"s":"abc"}', True),
    ("{ $.n > 5 && $.s = ab* }", '{"n":3,"s":"abc"}', False),
    ("{ $.n > 5 || $.s = ab* }", '{"n":3,"s":"abc"}', True),
    ("{ $.n >= 7 && $.n <= 7 && $.n = 7 && $.n != 8 }", '{"n":7}', True),
    ('{ $.n = 7 }', '{"n":"7"}', False),  # a string is not a number
    ("{ $.a[1].id = 2 }", '{"a":[{"id":1},{"id":2}]}', True),
    ("{ $.a[0].id = 2 }", '{"a":[{"id":1},{"id":2}]}', False),
    ("{ $.x IS NULL }", '{"x":null}', True),
    ("{ $.x IS NULL }", "{}", False),
    ("{ $.x IS TRUE }", '{"x":true}', True),
    ("{ $.x IS FALSE }", '{"x":true}', False),
    ("{ $.x NOT EXISTS }", "{}", True),
    ("{ $.x EXISTS }", '{"x":1}', True),
    ('{ ($.a = 1 || $.b = 2) && $.c != "z" }', '{"b":2,"c":"y"}', True),
    ("{ $.m = %fo+% }", '{"m":"xfooo"}', True),
    ("[ip, user, ..., status = 4*, size > 1000]", ACCESS.format(status=404, size=2000), True),
    ("[ip, user, ..., status = 4*, size > 1000]", ACCESS.format(status=200, size=2000), False),
    ("[ip, user, ..., status = 4*, size > 1000]", ACCESS.format(status=404, size=20), False),
    ("[ip, user, ident, ts, request, status, size]", ACCESS.format(status=404, size=20), True),
    ('[ip, user, ident, ts, request = "GET / HTTP/1.0", status, size]', ACCESS.format(status=1, size=2), True),
    ("[a, b]", "x y", True),
    ("[a, b]", "x y z", False),  # field counts must agree without `...`
    ("[a = x || a = q, b]", "q y", True),
    ("", "anything", True),
])
def test_pattern_matching(pattern: str, message: str, expected: bool) -> None:
    assert compile_pattern(pattern).matches(message) is expected


@pytest.mark.parametrize("pattern, message", [
    ("{ $.a = 1", "If a filter pattern starts with '{' it must end with '}'"),
    ("[a, b", "If a filter pattern starts with '[' it must end with ']'"),
    ("Status: timeout", "Invalid character(s) in term ':'"),
    ('""', "Invalid character(s) in term '\"\"'"),
    ("a(b", "Invalid character(s) in term '('"),
    ("{ }", "Invalid filter pattern"),
    ("{ $.a == }", "Invalid filter pattern"),
    ('{ $.a > "x" }', "Invalid filter pattern"),
    ("{ $.a IS MAYBE }", "Invalid filter pattern"),
    ("%(%", "Invalid filter pattern"),
    ("[a, b = ]", "Invalid filter pattern"),
])
def test_malformed_patterns(pattern: str, message: str) -> None:
    with pytest.raises(AwsError) as info:
        compile_pattern(pattern)
    assert (info.value.code, str(info.value)) == ("InvalidParameterException", message)


@pytest.fixture
def loaded(logs, store) -> int:
    """Two streams whose events interleave in time; the second stream is committed first."""
    t = logs.now() - 10_000
    store.append(logs.account, logs.region, G, "s2", [(t + 1, "[WARN] slow"), (t + 3, "[ERROR] Task timed out"),
                                            (t + 5, "END RequestId: 2")])
    store.append(logs.account, logs.region, G, "s1", [(t + 0, "START RequestId: 1"), (t + 2, "[ERROR] boom Exiting"),
                                            (t + 4, "[INFO] fine")])
    return t


def filt(logs, **params) -> dict:
    return logs("FilterLogEvents", logGroupName=G, **params)


def msgs(page: dict) -> list[str]:
    return [e["message"] for e in page["events"]]


def test_interleaved_by_timestamp(logs, loaded: int) -> None:
    page = filt(logs, interleaved=True)
    assert [e["timestamp"] - loaded for e in page["events"]] == [0, 1, 2, 3, 4, 5]
    assert [e["logStreamName"] for e in page["events"]] == ["s1", "s2", "s1", "s2", "s1", "s2"]
    assert "nextToken" not in page and page["searchedLogStreams"] == []
    e = page["events"][0]
    assert set(e) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert [x["eventId"] for x in filt(logs)["events"]] == [x["eventId"] for x in page["events"]]  # stable
    assert len({x["eventId"] for x in page["events"]}) == 6


def test_stream_selection_and_time_range(logs, loaded: int) -> None:
    assert msgs(filt(logs, logStreamNames=["s1"])) == ["START RequestId: 1", "[ERROR] boom Exiting", "[INFO] fine"]
    assert msgs(filt(logs, logStreamNamePrefix="s2", filterPattern="ERROR")) == ["[ERROR] Task timed out"]
    assert len(filt(logs, startTime=loaded + 2, endTime=loaded + 4)["events"]) == 3  # endTime inclusive
    err = logs.error("FilterLogEvents", logGroupName=G, logStreamNames=["s1"], logStreamNamePrefix="s")
    assert err.code == "InvalidParameterException"


def test_filter_patterns(logs, loaded: int) -> None:
    assert msgs(filt(logs, filterPattern="ERROR")) == ["[ERROR] boom Exiting", "[ERROR] Task timed out"]
    assert msgs(filt(logs, filterPattern='"timed out"')) == ["[ERROR] Task timed out"]
    assert msgs(filt(logs, filterPattern="ERROR -Exiting")) == ["[ERROR] Task timed out"]
    assert msgs(filt(logs, filterPattern="?WARN ?INFO")) == ["[WARN] slow", "[INFO] fine"]
    assert msgs(filt(logs, filterPattern="RequestId 2")) == ["END RequestId: 2"]
    assert msgs(filt(logs, filterPattern="error")) == []
    assert msgs(filt(logs, filterPattern='{ $.level = "ERROR" }')) == []
    assert msgs(filt(logs, filterPattern="%Task|boom%")) == ["[ERROR] boom Exiting", "[ERROR] Task timed out"]
    assert msgs(filt(logs, filterPattern="[level, ..., word = fine]")) == ["[INFO] fine"]
    err = logs.error("FilterLogEvents", logGroupName=G, filterPattern="{ $.x = ")
    assert (err.code, err.message) == ("InvalidParameterException",
                                       "If a filter pattern starts with '{' it must end with '}'")


def test_pagination(logs, loaded: int) -> None:
    seen, token, pages = [], None, 0
    while True:
        page = filt(logs, limit=4, **({"nextToken": token} if token else {}))
        seen += msgs(page)
        pages += 1
        token = page.get("nextToken")
        if token is None:
            break
    assert pages == 2 and len(seen) == 6 and seen == msgs(filt(logs))
    # exactly a full last page: no token once nothing is left
    assert "nextToken" not in filt(logs, limit=6)
    # filtered pages count only matches
    first = filt(logs, limit=1, filterPattern="ERROR")
    second = filt(logs, limit=1, filterPattern="ERROR", nextToken=first["nextToken"])
    assert msgs(second) == ["[ERROR] Task timed out"] and "nextToken" not in second


def test_newest_first(logs, loaded: int) -> None:
    page = filt(logs, startFromHead=False, limit=4)
    assert [e["timestamp"] - loaded for e in page["events"]] == [5, 4, 3, 2]
    rest = filt(logs, startFromHead=True, limit=4, nextToken=page["nextToken"])  # the token keeps its direction
    assert [e["timestamp"] - loaded for e in rest["events"]] == [1, 0] and "nextToken" not in rest


def test_errors(logs) -> None:
    err = logs.error("FilterLogEvents", logGroupName="/missing")
    assert (err.code, err.message) == ("ResourceNotFoundException", "The specified log group does not exist.")
    logs("CreateLogGroup", logGroupName=G)
    for bad in ["garbage", "f/" + "0" * 40 + "/s"]:
        err = logs.error("FilterLogEvents", logGroupName=G, nextToken=bad)
        assert (err.code, err.message) == ("InvalidParameterException", "The specified nextToken is invalid.")
    assert logs.error("FilterLogEvents", logGroupName=G, limit=0).code == "InvalidParameterException"


def test_tail_follow_loop(logs, store) -> None:
    """What AWS CLI v2 `aws logs tail --follow` does: FilterLogEvents with interleaved=True, then
    re-polls from the newest timestamp seen, dropping eventIds it already printed at that timestamp."""
    t = logs.now() - 5000
    logs("CreateLogGroup", logGroupName=G)
    kwargs: dict = {"logGroupName": G, "interleaved": True, "startTime": t - 600_000}
    ids_at: dict[int, set[str]] = defaultdict(set)
    printed: list[str] = []

    def poll() -> None:
        nonlocal ids_at
        while True:
            resp = logs("FilterLogEvents", **kwargs)
            for e in resp["events"]:
                if e["eventId"] not in ids_at[e["timestamp"]]:
                    ids_at[e["timestamp"]].add(e["eventId"])
                    printed.append(e["message"])
            if ids_at:
                newest = max(ids_at)
                ids_at = defaultdict(set, {newest: ids_at[newest]})
            if "nextToken" in resp:
                kwargs["nextToken"] = resp["nextToken"]
                continue
            if ids_at:
                kwargs["startTime"] = max(ids_at)
            kwargs.pop("nextToken", None)
            return  # the CLI sleeps 5 s here

    poll()
    assert printed == []
    store.append(logs.account, logs.region, G, "env-a", [(t, "START"), (t + 1, "hello")])
    poll()
    store.append(logs.account, logs.region, G, "env-b", [(t + 1, "same ms, other env"), (t + 2, "END")])
    poll()
    poll()
    assert printed == ["START", "hello", "same ms, other env", "END"]
