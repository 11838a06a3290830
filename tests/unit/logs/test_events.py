from __future__ import annotations


G, S = "/aws/lambda/fn", "2024/01/01/[$LATEST]0123456789abcdef0123456789abcdef"


def setup(logs) -> None:
    logs("CreateLogGroup", logGroupName=G)
    logs("CreateLogStream", logGroupName=G, logStreamName=S)


def messages(page: dict) -> list[str]:
    return [e["message"] for e in page["events"]]


def get(logs, **params) -> dict:
    return logs("GetLogEvents", logGroupName=G, logStreamName=S, **params)


def test_put_errors(logs) -> None:
    err = logs.error("PutLogEvents", logGroupName=G, logStreamName=S, logEvents=[{"timestamp": 1, "message": "x"}])
    assert (err.code, err.message) == ("ResourceNotFoundException", "The specified log group does not exist.")
    logs("CreateLogGroup", logGroupName=G)
    err = logs.error("PutLogEvents", logGroupName=G, logStreamName=S, logEvents=[{"timestamp": 1, "message": "x"}])
    assert (err.code, err.message) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    logs("CreateLogStream", logGroupName=G, logStreamName=S)
    t = logs.now()
    err = logs.error("PutLogEvents", logGroupName=G, logStreamName=S,
                     logEvents=[{"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}])
    assert (err.code, err.message) == ("InvalidParameterException",
                                       "Log events in a single PutLogEvents request must be in chronological order.")


def test_put_rejects_too_old_and_too_new(logs) -> None:
    setup(logs)
    t = logs.now()
    day = 86_400_000
    out = logs.put(G, S, (t - 15 * day, "old"), (t - 15 * day + 1, "old2"), (t, "ok"), (t + 3 * 3_600_000, "new"))
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2, "tooNewLogEventStartIndex": 3}
    assert len(out["nextSequenceToken"]) == 56
    assert messages(get(logs)) == ["ok"]

    logs("PutRetentionPolicy", logGroupName=G, retentionInDays=1)
    out = logs.put(G, S, (t - 2 * day, "expired"), (t, "ok2"))
    assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    assert messages(get(logs)) == ["ok", "ok2"]


def test_put_rejects_batches_spanning_a_day(logs) -> None:
    setup(logs)
    t = logs.now()
    err = logs.error("PutLogEvents", logGroupName=G, logStreamName=S,
                     logEvents=[{"timestamp": t - 25 * 3_600_000, "message": "a"}, {"timestamp": t, "message": "b"}])
    assert err.code == "InvalidParameterException"


def test_get_defaults_to_newest_page_in_ascending_order(logs) -> None:
    setup(logs)
    t = logs.now() - 1000
    logs.put(G, S, *[(t + i, f"m{i}") for i in range(10)])
    assert messages(get(logs)) == [f"m{i}" for i in range(10)]
    assert messages(get(logs, limit=3)) == ["m7", "m8", "m9"]
    assert messages(get(logs, limit=3, startFromHead=True)) == ["m0", "m1", "m2"]
    assert messages(get(logs, startTime=t + 2, endTime=t + 5)) == ["m2", "m3", "m4"]  # endTime is exclusive
    e = get(logs, limit=1)["events"][0]
    assert set(e) == {"timestamp", "message", "ingestionTime"} and e["timestamp"] == t + 9


def test_backward_and_forward_paging(logs) -> None:
    setup(logs)
    t = logs.now() - 1000
    logs.put(G, S, *[(t + i, f"m{i}") for i in range(7)])
    page = get(logs, limit=3)
    assert messages(page) == ["m4", "m5", "m6"]
    older = get(logs, limit=3, nextToken=page["nextBackwardToken"])
    assert messages(older) == ["m1", "m2", "m3"]
    oldest = get(logs, limit=3, nextToken=older["nextBackwardToken"])
    assert messages(oldest) == ["m0"]
    end = get(logs, limit=3, nextToken=oldest["nextBackwardToken"])
    assert messages(end) == [] and end["nextBackwardToken"] == oldest["nextBackwardToken"]
    # from the exhausted backward end, going forward replays from the oldest event
    assert messages(get(logs, limit=2, nextToken=end["nextForwardToken"])) == ["m0", "m1"]
    # and forward from a backward page continues after it
    assert messages(get(logs, nextToken=older["nextForwardToken"])) == ["m4", "m5", "m6"]

    head, seen = get(logs, limit=3, startFromHead=True), []
    while True:
        seen += messages(head)
        nxt = get(logs, limit=3, nextToken=head["nextForwardToken"])
        if nxt["nextForwardToken"] == head["nextForwardToken"]:
            break
        head = nxt
    assert seen == [f"m{i}" for i in range(7)]


def test_forward_polling_sees_new_events_only(logs, store) -> None:
    setup(logs)
    first = get(logs, startFromHead=True)
    assert first["events"] == []
    token = first["nextForwardToken"]
    again = get(logs, nextToken=token)
    assert again["events"] == [] and again["nextForwardToken"] == token

    t = logs.now()
    store.append(logs.account, logs.region, G, S, [(t, "START RequestId: 1"), (t + 1, "END RequestId: 1")])  # as Lambda does
    page = get(logs, nextToken=token)
    assert messages(page) == ["START RequestId: 1", "END RequestId: 1"]
    token = page["nextForwardToken"]
    idle = get(logs, nextToken=token)
    assert idle["events"] == [] and idle["nextForwardToken"] == token

    store.append(logs.account, logs.region, G, S, [(t + 1, "same millisecond"), (t + 2, "later")])
    assert messages(get(logs, nextToken=token)) == ["same millisecond", "later"]


def test_polling_from_the_default_newest_page(logs) -> None:
    setup(logs)
    empty = get(logs)  # startFromHead=false on an empty stream
    t = logs.now()
    logs.put(G, S, (t, "first"))
    assert messages(get(logs, nextToken=empty["nextForwardToken"])) == ["first"]
    tail = get(logs)
    logs.put(G, S, (t + 1, "second"))
    assert messages(get(logs, nextToken=tail["nextForwardToken"])) == ["second"]


def test_get_errors(logs) -> None:
    assert logs.error("GetLogEvents", logGroupName=G, logStreamName=S).message == \
        "The specified log group does not exist."
    logs("CreateLogGroup", logGroupName=G)
    assert logs.error("GetLogEvents", logGroupName=G, logStreamName=S).message == \
        "The specified log stream does not exist."
    logs("CreateLogStream", logGroupName=G, logStreamName=S)
    for bad in ["garbage", "f/123/s", "x/" + "0" * 40 + "/s"]:
        err = logs.error("GetLogEvents", logGroupName=G, logStreamName=S, nextToken=bad)
        assert (err.code, err.message) == ("InvalidParameterException", "The specified nextToken is invalid.")
    err = logs.error("GetLogEvents", logGroupName=G, logStreamName=S, limit=10001)
    assert err.message == ("1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: "
                           "Member must have value less than or equal to 10000")


def test_get_by_group_arn(logs) -> None:
    setup(logs)
    logs.put(G, S, (logs.now(), "hi"))
    page = logs("GetLogEvents", logGroupIdentifier=f"arn:aws:logs:{logs.region}:{logs.account}:log-group:{G}:*",
                logStreamName=S)
    assert messages(page) == ["hi"]


def test_pages_are_capped_at_one_megabyte(logs, store) -> None:
    setup(logs)
    t = logs.now()
    big = "x" * 300_000
    store.append(logs.account, logs.region, G, S, [(t + i, big) for i in range(5)])
    page = get(logs, startFromHead=True)
    assert len(page["events"]) == 3
    assert len(get(logs, nextToken=page["nextForwardToken"])["events"]) == 2


def test_extreme_time_bounds_do_not_overflow(logs) -> None:
    setup(logs)
    logs.put(G, S, (logs.now(), "x"))
    assert messages(get(logs, startTime=0, endTime=2**63 - 1)) == ["x"]
    assert len(logs("FilterLogEvents", logGroupName=G, startTime=0, endTime=2**63 - 1)["events"]) == 1
