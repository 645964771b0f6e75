"""The local stack's S3 server (localbucket, its default) keeps the bucket private.

Started as the stack starts it (kedro_mlops.local.stack.s3.S3Component, a separate process on a free
port). The stack's own clients, which sign with its key pair (boto3, s3fs, presigned URLs), work;
an unsigned request (urllib, as curl or a browser would send it) or a wrong key is refused.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest

from kedro_mlops.local.stack.s3 import S3Component, s3_client

from .conftest import make_test_settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def localbucket(tmp_path_factory):
    settings = make_test_settings(tmp_path_factory.mktemp("localbucket-state"),
                                  s3_server="localbucket")
    component = S3Component(settings)
    component.start(progress=lambda _msg: None)  # creates the bucket: a signed request
    try:
        yield settings
    finally:
        component.stop(progress=lambda _msg: None)


def _anonymous(method: str, url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_signed_clients_work_and_anonymous_requests_are_refused(localbucket):
    settings = localbucket
    client = s3_client(settings)
    body = os.urandom(1024)
    client.put_object(Bucket=settings.bucket, Key="private/model.bin", Body=body)
    assert client.get_object(Bucket=settings.bucket, Key="private/model.bin")["Body"].read() == body

    base = f"{settings.s3_endpoint_url}/{settings.bucket}"
    status, answer = _anonymous("GET", f"{base}/private/model.bin")
    assert status == 403 and b"<Code>AccessDenied</Code>" in answer and body not in answer
    assert _anonymous("HEAD", f"{base}/private/model.bin")[0] == 403
    status, answer = _anonymous("GET", f"{base}?list-type=2")  # listing the keys
    assert status == 403 and b"private/model.bin" not in answer
    assert _anonymous("PUT", f"{base}/planted.txt", b"x")[0] == 403
    assert _anonymous("DELETE", f"{base}/private/model.bin")[0] == 403
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=settings.bucket)["Contents"]]
    assert keys == ["private/model.bin"]  # nothing planted, nothing deleted


def test_a_wrong_key_is_refused(localbucket):
    from botocore.exceptions import ClientError

    settings = localbucket
    s3_client(settings).put_object(Bucket=settings.bucket, Key="k.txt", Body=b"v")
    for overrides, code in (({"aws_secret_access_key": "not-the-secret"}, "SignatureDoesNotMatch"),
                            ({"aws_access_key_id": "someone-else"}, "InvalidAccessKeyId")):
        wrong = s3_client(settings.replace(**overrides), retries=1)
        with pytest.raises(ClientError) as err:
            wrong.get_object(Bucket=settings.bucket, Key="k.txt")
        assert err.value.response["Error"]["Code"] == code


def test_presigned_urls_work_until_tampered_with(localbucket):
    settings = localbucket
    client = s3_client(settings)
    client.put_object(Bucket=settings.bucket, Key="shared/report.csv", Body=b"a,b\n1,2\n")
    params = {"Bucket": settings.bucket, "Key": "shared/report.csv"}
    url = _sigv4_client(settings).generate_presigned_url("get_object", Params=params,
                                                         ExpiresIn=60)
    assert _anonymous("GET", url) == (200, b"a,b\n1,2\n")
    assert _anonymous("GET", url.replace("shared/report.csv", "shared/other.csv"))[0] == 403
    # boto3's default presigned URL (SigV2, deprecated by AWS) is not accepted
    legacy = client.generate_presigned_url("get_object", Params=params, ExpiresIn=60)
    assert "Signature=" in legacy and _anonymous("GET", legacy)[0] == 403


def _sigv4_client(settings):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url,
                        aws_access_key_id=settings.aws_access_key_id,
                        aws_secret_access_key=settings.aws_secret_access_key,
                        region_name=settings.aws_region,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def test_the_stack_s3fs_operations_pass_the_signature_check(localbucket):
    """What Kedro datasets and MLflow do through s3fs: multipart write, list, batch delete."""
    import s3fs

    settings = localbucket
    fs = s3fs.S3FileSystem(key=settings.aws_access_key_id, secret=settings.aws_secret_access_key,
                           endpoint_url=settings.s3_endpoint_url,
                           client_kwargs={"region_name": settings.aws_region})
    root = f"{settings.bucket}/runs/run-1"
    big = os.urandom(11 * 1024 * 1024)  # above s3fs's 5 MiB block: a multipart upload
    with fs.open(f"{root}/big.bin", "wb") as fh:
        fh.write(big)
    fs.pipe(f"{root}/part=a/x.parquet", b"1")
    fs.pipe(f"{root}/part=b/y.parquet", b"2")
    assert fs.cat(f"{root}/big.bin") == big
    assert sorted(fs.find(root)) == [f"{root}/big.bin", f"{root}/part=a/x.parquet",
                                     f"{root}/part=b/y.parquet"]
    fs.rm(root, recursive=True)  # DeleteObjects
    fs.invalidate_cache()
    assert fs.find(root) == []
