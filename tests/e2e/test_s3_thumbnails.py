"""The seed's own example, end to end: a JPEG uploaded to bucket `uploads` triggers a Python function
that makes a thumbnail with Pillow (shipped inside its deployment package) and writes it to bucket
`thumbnails`. The package is deployed from S3 too, as large packages are on AWS."""
from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from nubis_testing import ROLE

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

HANDLER = '''
import io
import os
from urllib.parse import unquote_plus

import boto3
import PIL
from PIL import Image

s3 = boto3.client("s3")  # nubis points boto3 at itself (AWS_ENDPOINT_URL) with the function's credentials
SIZE = (128, 128)


def handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        image = Image.open(io.BytesIO(original))
        image.thumbnail(SIZE)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        s3.put_object(Bucket=os.environ["THUMBNAIL_BUCKET"], Key=f"thumb-{key}", Body=out.getvalue(),
                      ContentType="image/jpeg",
                      Metadata={"source": f"{bucket}/{key}",
                                "pillow-in-package": str(PIL.__file__.startswith(os.environ["LAMBDA_TASK_ROOT"]))})
'''


def package_with_pillow() -> bytes:
    """The handler plus the installed Pillow (PIL/ and its bundled libraries), as `pip install -t` would lay it out."""
    site = Path(PIL.__file__).parent.parent
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("thumbnail.py", HANDLER)
        for folder in ("PIL", "pillow.libs", "Pillow.libs"):
            root = site / folder
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    info = zipfile.ZipInfo(str(path.relative_to(site)))
                    info.external_attr = 0o755 << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, path.read_bytes(), compresslevel=1)
    return buf.getvalue()


def a_photo(width: int = 1024, height: int = 768) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 255) // width, (y * 255) // height, 128) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


@pytest.mark.timeout(300)
def test_upload_a_photo_get_a_thumbnail(server, lam):
    s3 = server.client("s3")
    for bucket in ("uploads", "thumbnails", "deployments"):
        s3.create_bucket(Bucket=bucket)

    s3.put_object(Bucket="deployments", Key="thumbnail.zip", Body=package_with_pillow())
    lam.create_function(FunctionName="make-thumbnail", Runtime="python3.12", Role=ROLE,
                        Handler="thumbnail.handler", Timeout=60, MemorySize=512,
                        Code={"S3Bucket": "deployments", "S3Key": "thumbnail.zip"},
                        Environment={"Variables": {"THUMBNAIL_BUCKET": "thumbnails"}})
    lam.get_waiter("function_active_v2").wait(FunctionName="make-thumbnail",
                                              WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    lam.add_permission(FunctionName="make-thumbnail", StatementId="s3-uploads", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::uploads")
    function_arn = lam.get_function(FunctionName="make-thumbnail")["Configuration"]["FunctionArn"]
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": function_arn, "Events": ["s3:ObjectCreated:*"],
                                          "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}}}]})

    s3.put_object(Bucket="uploads", Key="holiday photo.jpg", Body=a_photo(), ContentType="image/jpeg")

    deadline = time.time() + 120
    thumb = None
    while time.time() < deadline:
        listed = s3.list_objects_v2(Bucket="thumbnails").get("Contents", [])
        if listed:
            thumb = s3.get_object(Bucket="thumbnails", Key=listed[0]["Key"])
            break
        time.sleep(0.2)
    assert thumb is not None, "no thumbnail appeared"
    assert thumb["ContentType"] == "image/jpeg"
    assert thumb["Metadata"]["source"] == "uploads/holiday photo.jpg"
    assert thumb["Metadata"]["pillow-in-package"] == "True"
    image = Image.open(io.BytesIO(thumb["Body"].read()))
    assert image.format == "JPEG" and image.size == (128, 96)
