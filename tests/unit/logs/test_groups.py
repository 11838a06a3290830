from __future__ import annotations



def test_create_describe_delete(logs) -> None:
    logs("CreateLogGroup", logGroupName="/app/one")
    [g] = logs("DescribeLogGroups")["logGroups"]
    assert g["logGroupName"] == "/app/one"
    assert g["arn"] == f"arn:aws:logs:{logs.region}:{logs.account}:log-group:/app/one:*"
    assert g["logGroupArn"] == f"arn:aws:logs:{logs.region}:{logs.account}:log-group:/app/one"
    assert g["metricFilterCount"] == 0 and g["storedBytes"] == 0 and g["logGroupClass"] == "STANDARD"
    assert isinstance(g["creationTime"], int) and "retentionInDays" not in g

    err = logs.error("CreateLogGroup", logGroupName="/app/one")
    assert (err.code, err.message, err.status) == (
        "ResourceAlreadyExistsException", "The specified log group already exists", 400)

    logs("DeleteLogGroup", logGroupName="/app/one")
    assert logs("DescribeLogGroups")["logGroups"] == []
    err = logs.error("DeleteLogGroup", logGroupName="/app/one")
    assert (err.code, err.message) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_stored_bytes_counts_messages(logs, store) -> None:
    store.append(logs.account, logs.region, "/aws/lambda/f", "s", [(1, "hello"), (2, "abc")])
    [g] = logs("DescribeLogGroups")["logGroups"]
    assert g["logGroupName"] == "/aws/lambda/f" and g["storedBytes"] == 8


def test_groups_are_per_account_and_region(logs, store) -> None:
    store.create_group("999999999999", logs.region, "/other")
    store.create_group(logs.account, "us-east-1", "/other-region")
    assert logs("DescribeLogGroups")["logGroups"] == []


def test_prefix_pattern_and_pagination(logs) -> None:
    for name in ["/b/x", "/a/3", "/a/1", "/a/2", "/c/DataLogs"]:
        logs("CreateLogGroup", logGroupName=name)
    names = [g["logGroupName"] for g in logs("DescribeLogGroups", logGroupNamePrefix="/a/")["logGroups"]]
    assert names == ["/a/1", "/a/2", "/a/3"]

    seen, token, pages = [], None, 0
    while True:
        page = logs("DescribeLogGroups", limit=2, **({"nextToken": token} if token else {}))
        seen += [g["logGroupName"] for g in page["logGroups"]]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert seen == ["/a/1", "/a/2", "/a/3", "/b/x", "/c/DataLogs"] and pages == 3

    found = logs("DescribeLogGroups", logGroupNamePattern="DataLogs")["logGroups"]
    assert [g["logGroupName"] for g in found] == ["/c/DataLogs"]
    assert "storedBytes" not in found[0]  # AWS returns a reduced view for pattern searches
    assert logs("DescribeLogGroups", logGroupNamePattern="datalogs")["logGroups"] == []

    err = logs.error("DescribeLogGroups", logGroupNamePrefix="/a", logGroupNamePattern="a")
    assert err.code == "InvalidParameterException"
    assert err.message == "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."


def test_group_identifiers_filter(logs) -> None:
    for name in ["/a", "/b", "/c"]:
        logs("CreateLogGroup", logGroupName=name)
    arn = f"arn:aws:logs:{logs.region}:{logs.account}:log-group:/c:*"
    got = logs("DescribeLogGroups", logGroupIdentifiers=["/a", arn])["logGroups"]
    assert [g["logGroupName"] for g in got] == ["/a", "/c"]


def test_garbage_token_and_bad_limit(logs) -> None:
    err = logs.error("DescribeLogGroups", nextToken="not-a-token")
    assert (err.code, err.message) == ("InvalidParameterException", "The specified nextToken is invalid.")
    err = logs.error("DescribeLogGroups", limit=51)
    assert err.code == "InvalidParameterException"
    assert err.message == ("1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: "
                           "Member must have value less than or equal to 50")


def test_retention_policy(logs) -> None:
    logs("CreateLogGroup", logGroupName="/r")
    logs("PutRetentionPolicy", logGroupName="/r", retentionInDays=14)
    assert logs("DescribeLogGroups")["logGroups"][0]["retentionInDays"] == 14
    logs("DeleteRetentionPolicy", logGroupName="/r")
    assert "retentionInDays" not in logs("DescribeLogGroups")["logGroups"][0]

    err = logs.error("PutRetentionPolicy", logGroupName="/r", retentionInDays=2)
    assert err.code == "InvalidParameterException"
    assert err.message.startswith("1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy "
                                  "constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30,")
    assert logs.error("PutRetentionPolicy", logGroupName="/nope", retentionInDays=1).code == \
        "ResourceNotFoundException"
    assert logs.error("DeleteRetentionPolicy", logGroupName="/nope").code == "ResourceNotFoundException"


def test_unknown_operation_is_not_implemented(logs) -> None:
    err = logs.error("StartLiveTail", logGroupIdentifiers=["/a"])
    assert (err.code, err.status) == ("NotImplementedException", 501)


def test_model_violations_are_invalid_parameter(logs) -> None:
    from nubis.server.protocol.validation import Violation

    err = logs.provider.validation_error("GetLogEvents", [Violation("limit", 10001, "Member must have value less "
                                                                                     "than or equal to 10000")])
    assert (err.code, err.status) == ("InvalidParameterException", 400)
    assert err.message == ("1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: "
                           "Member must have value less than or equal to 10000")
