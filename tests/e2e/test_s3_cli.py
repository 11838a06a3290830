"""The AWS CLI (v1, from the venv) against nubis S3: `aws s3 mb/cp/ls/sync/rm/rb/presign` and `aws s3api`."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

AWS = Path(sys.executable).parent / "aws"


class Cli:
    def __init__(self, endpoint: str, cwd: Path) -> None:
        self.endpoint = endpoint
        self.cwd = cwd
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                   AWS_CONFIG_FILE=str(cwd / "no-config"), AWS_SHARED_CREDENTIALS_FILE=str(cwd / "no-creds"),
                   AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true")
        self.env = env

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(AWS), "--endpoint-url", self.endpoint, *args], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True, timeout=180)

    def ok(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, f"aws {' '.join(args)} -> {proc.returncode}\n{proc.stderr}"
        return proc.stdout

    def json(self, *args: str) -> dict:
        out = self.ok(*args, "--output", "json")
        return json.loads(out) if out.strip() else {}


@pytest.fixture()
def aws(server, tmp_path) -> Cli:
    return Cli(server.endpoint, tmp_path)


def test_s3_high_level_commands(aws, tmp_path):
    bucket = f"cli-{uuid.uuid4().hex[:10]}"
    assert f"make_bucket: {bucket}" in aws.ok("s3", "mb", f"s3://{bucket}")
    src = tmp_path / "tree"
    (src / "sub" / "deeper").mkdir(parents=True)
    files = {"a.txt": b"alpha", "sub/b.txt": b"bravo", "sub/deeper/c.bin": os.urandom(1000),
             "with space.txt": b"spaced"}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))  # above the CLI's 8 MiB multipart threshold

    aws.ok("s3", "cp", str(big), f"s3://{bucket}/big.bin", "--no-progress")
    out = aws.ok("s3", "sync", str(src), f"s3://{bucket}/tree", "--no-progress")
    assert out.count("upload:") == 4
    assert aws.ok("s3", "sync", str(src), f"s3://{bucket}/tree", "--no-progress").strip() == ""  # nothing new

    top = aws.ok("s3", "ls", f"s3://{bucket}")
    assert "PRE tree/" in top and "big.bin" in top and str(12 * 1024 * 1024) in top
    listing = aws.ok("s3", "ls", f"s3://{bucket}", "--recursive")
    for rel in files:
        assert f"tree/{rel}" in listing
    assert bucket in aws.ok("s3", "ls")

    back = tmp_path / "back"
    aws.ok("s3", "sync", f"s3://{bucket}/tree", str(back), "--no-progress")
    for rel, data in files.items():
        assert (back / rel).read_bytes() == data
    aws.ok("s3", "cp", f"s3://{bucket}/big.bin", str(tmp_path / "big2.bin"), "--no-progress")
    assert hashlib.md5((tmp_path / "big2.bin").read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()

    aws.ok("s3", "cp", f"s3://{bucket}/tree/a.txt", f"s3://{bucket}/copied/a.txt")  # server-side copy
    aws.ok("s3", "mv", f"s3://{bucket}/copied/a.txt", f"s3://{bucket}/moved/a.txt")
    assert " a.txt" in aws.ok("s3", "ls", f"s3://{bucket}/moved/")
    assert aws.run("s3", "ls", f"s3://{bucket}/copied/").stdout.strip() == ""  # (exit 1: nothing there)

    url = aws.ok("s3", "presign", f"s3://{bucket}/tree/a.txt", "--expires-in", "300").strip()
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == b"alpha"

    aws.ok("s3", "rm", f"s3://{bucket}/big.bin")
    assert "big.bin" not in aws.ok("s3", "ls", f"s3://{bucket}")
    failed = aws.run("s3", "rb", f"s3://{bucket}")
    assert failed.returncode != 0 and "BucketNotEmpty" in failed.stderr
    assert f"remove_bucket: {bucket}" in aws.ok("s3", "rb", f"s3://{bucket}", "--force")
    assert bucket not in aws.ok("s3", "ls")


def test_s3api_commands(aws, tmp_path):
    bucket = f"api-{uuid.uuid4().hex[:10]}"
    aws.json("s3api", "create-bucket", "--bucket", bucket)
    body = tmp_path / "body.txt"
    body.write_text("s3api body")
    put = aws.json("s3api", "put-object", "--bucket", bucket, "--key", "k/one.txt", "--body", str(body),
                   "--content-type", "text/plain", "--metadata", "owner=cli")
    assert put["ETag"] == f'"{hashlib.md5(b"s3api body").hexdigest()}"'
    head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "k/one.txt")
    assert (head["ContentType"], head["Metadata"], head["ContentLength"]) == ("text/plain", {"owner": "cli"}, 10)
    out = tmp_path / "out.txt"
    aws.json("s3api", "get-object", "--bucket", bucket, "--key", "k/one.txt", "--range", "bytes=0-4", str(out))
    assert out.read_text() == "s3api"
    listed = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "k/")
    assert [o["Key"] for o in listed["Contents"]] == ["k/one.txt"]
    aws.json("s3api", "put-object-tagging", "--bucket", bucket, "--key", "k/one.txt",
             "--tagging", "TagSet=[{Key=team,Value=core}]")
    assert aws.json("s3api", "get-object-tagging", "--bucket", bucket, "--key", "k/one.txt")["TagSet"] == [
        {"Key": "team", "Value": "core"}]
    missing = aws.run("s3api", "get-object", "--bucket", bucket, "--key", "nope", str(tmp_path / "x"))
    assert missing.returncode != 0 and "NoSuchKey" in missing.stderr
    assert "The specified key does not exist." in missing.stderr
    nobucket = aws.run("s3api", "head-bucket", "--bucket", f"{bucket}-missing")
    assert nobucket.returncode != 0 and "404" in nobucket.stderr
    aws.json("s3api", "delete-object", "--bucket", bucket, "--key", "k/one.txt")
    aws.json("s3api", "delete-bucket", "--bucket", bucket)
    assert bucket not in [b["Name"] for b in aws.json("s3api", "list-buckets").get("Buckets", [])]
