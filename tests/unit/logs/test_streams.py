from __future__ import annotations


G = "/aws/lambda/fn"


def names(page: dict) -> list[str]:
    return [s["logStreamName"] for s in page["logStreams"]]


def test_create_stream_errors(logs) -> None:
    err = logs.error("CreateLogStream", logGroupName=G, logStreamName="s")
    assert (err.code, err.message) == ("ResourceNotFoundException", "The specified log group does not exist.")
    logs("CreateLogGroup", logGroupName=G)
    logs("CreateLogStream", logGroupName=G, logStreamName="s")
    err = logs.error("CreateLogStream", logGroupName=G, logStreamName="s")
    assert (err.code, err.message) == ("ResourceAlreadyExistsException", "The specified log stream already exists")


def test_empty_stream_view(logs) -> None:
    logs("CreateLogGroup", logGroupName=G)
    logs("CreateLogStream", logGroupName=G, logStreamName="2024/01/01/[$LATEST]abc")
    [s] = logs("DescribeLogStreams", logGroupName=G)["logStreams"]
    assert set(s) == {"logStreamName", "creationTime", "arn", "storedBytes"}
    assert s["arn"] == f"arn:aws:logs:{logs.region}:{logs.account}:log-group:{G}:log-stream:2024/01/01/[$LATEST]abc"
    assert s["storedBytes"] == 0


def test_stream_view_after_events(logs) -> None:
    logs("CreateLogGroup", logGroupName=G)
    logs("CreateLogStream", logGroupName=G, logStreamName="s")
    t = logs.now()
    logs.put(G, "s", (t - 10, "a"), (t - 5, "b"))
    [s] = logs("DescribeLogStreams", logGroupName=G)["logStreams"]
    assert s["firstEventTimestamp"] == t - 10 and s["lastEventTimestamp"] == t - 5
    assert s["lastIngestionTime"] >= t - 5 and len(s["uploadSequenceToken"]) == 56


def test_order_prefix_and_pagination(logs, store) -> None:
    t = logs.now()
    store.append(logs.account, logs.region, G, "b", [(t - 100, "x")])
    store.append(logs.account, logs.region, G, "c", [(t - 300, "x")])
    store.append(logs.account, logs.region, G, "a", [(t - 200, "x")])
    store.append(logs.account, logs.region, G, "other", [(t - 50, "x")])
    assert names(logs("DescribeLogStreams", logGroupName=G)) == ["a", "b", "c", "other"]
    assert names(logs("DescribeLogStreams", logGroupName=G, descending=True)) == ["other", "c", "b", "a"]
    assert names(logs("DescribeLogStreams", logGroupName=G, orderBy="LastEventTime")) == ["c", "a", "b", "other"]
    assert names(logs("DescribeLogStreams", logGroupName=G, orderBy="LastEventTime", descending=True,
                      limit=1)) == ["other"]
    assert names(logs("DescribeLogStreams", logGroupName=G, logStreamNamePrefix="o")) == ["other"]

    err = logs.error("DescribeLogStreams", logGroupName=G, orderBy="LastEventTime", logStreamNamePrefix="a")
    assert (err.code, err.message) == ("InvalidParameterException",
                                       "Cannot order by LastEventTime with a logStreamNamePrefix.")

    first = logs("DescribeLogStreams", logGroupName=G, limit=3)
    assert names(first) == ["a", "b", "c"]
    last = logs("DescribeLogStreams", logGroupName=G, limit=3, nextToken=first["nextToken"])
    assert names(last) == ["other"] and "nextToken" not in last
    assert logs.error("DescribeLogStreams", logGroupName=G, nextToken="x!").message == \
        "The specified nextToken is invalid."


def test_group_identifier(logs) -> None:
    logs("CreateLogGroup", logGroupName=G)
    logs("CreateLogStream", logGroupName=G, logStreamName="s")
    for ident in [G, f"arn:aws:logs:{logs.region}:{logs.account}:log-group:{G}", f"arn:aws:logs:{logs.region}:{logs.account}:log-group:{G}:*"]:
        assert names(logs("DescribeLogStreams", logGroupIdentifier=ident)) == ["s"]
    err = logs.error("DescribeLogStreams", logGroupName=G, logGroupIdentifier=G)
    assert (err.code, err.message) == ("ValidationException",
                                       "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    assert logs.error("DescribeLogStreams", logGroupName="/missing").code == "ResourceNotFoundException"


def test_delete_stream(logs) -> None:
    logs("CreateLogGroup", logGroupName=G)
    logs("CreateLogStream", logGroupName=G, logStreamName="s")
    logs.put(G, "s", (logs.now(), "gone soon"))
    logs("DeleteLogStream", logGroupName=G, logStreamName="s")
    assert names(logs("DescribeLogStreams", logGroupName=G)) == []
    assert logs("FilterLogEvents", logGroupName=G)["events"] == []
    err = logs.error("DeleteLogStream", logGroupName=G, logStreamName="s")
    assert (err.code, err.message) == ("ResourceNotFoundException", "The specified log stream does not exist.")
