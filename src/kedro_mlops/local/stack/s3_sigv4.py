"""Checks the AWS Signature Version 4 of an S3 request against one access key.

The local stack's S3 server (localbucket_server) uses it so that its bucket is private: an
unsigned request (a browser, curl, anything on the machine that does not hold the key) is
refused, as AWS S3 and MinIO refuse it for a bucket without an anonymous policy.

Only what the stack's clients send is accepted: the `Authorization: AWS4-HMAC-SHA256 ...`
header (boto3, s3fs/aiobotocore, MLflow's artifact proxy) and presigned URLs with
`X-Amz-Signature`. The payload hash is the client's `x-amz-content-sha256` value, as AWS takes it:
it is part of what is signed; the body itself is not hashed again here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = timedelta(minutes=15)  # AWS's RequestTimeTooSkewed limit
_AUTH_HEADER = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]{64})$")


class SignatureError(Exception):
    """The request is not signed with the key: `code` is the S3 error code to answer with."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(query: str, *, drop_signature: bool) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    if drop_signature:
        pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def verify(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str],
           access_key_id: str, secret_access_key: str, *, now: datetime | None = None) -> None:
    """Raise SignatureError unless the request is signed by this key pair.

    `raw_path` and `raw_query` are as the client sent them (still URL-encoded): S3 signs the
    path as sent, without normalising it. `headers` is looked up case-insensitively.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    if "authorization" in lower:
        match = _AUTH_HEADER.match(lower["authorization"].strip())
        if not match:
            raise SignatureError("AccessDenied", "only AWS4-HMAC-SHA256 signatures are accepted")
        credential, signed, signature = match.group("credential", "signed", "signature")
        amz_date = lower.get("x-amz-date", "")
        payload_hash = lower.get("x-amz-content-sha256", "")
        presigned = False
    elif "X-Amz-Signature" in query:
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            raise SignatureError("AccessDenied", "only AWS4-HMAC-SHA256 signatures are accepted")
        credential, signed = query.get("X-Amz-Credential", ""), query.get("X-Amz-SignedHeaders", "")
        signature, amz_date = query["X-Amz-Signature"], query.get("X-Amz-Date", "")
        payload_hash = "UNSIGNED-PAYLOAD"
        presigned = True
    else:
        raise SignatureError("AccessDenied", "Access Denied: anonymous requests are refused")

    key_id, _, scope = credential.partition("/")
    if not hmac.compare_digest(key_id, access_key_id):
        raise SignatureError("InvalidAccessKeyId",
                             "The AWS Access Key Id you provided does not exist in our records.")
    scope_parts = scope.split("/")
    if len(scope_parts) != 4 or scope_parts[3] != "aws4_request" or not payload_hash:
        raise SignatureError("AuthorizationHeaderMalformed", "malformed credential scope")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError("AccessDenied", "missing or malformed X-Amz-Date") from None
    now = now or datetime.now(UTC)
    if presigned:
        expires = timedelta(seconds=int(query.get("X-Amz-Expires", "0") or 0))
        if not signed_at - MAX_CLOCK_SKEW <= now <= signed_at + expires:
            raise SignatureError("AccessDenied", "Request has expired")
    elif abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureError("RequestTimeTooSkewed",
                             "The difference between the request time and the server's time "
                             "is too large.")

    signed_names = signed.split(";")
    if "host" not in signed_names:
        raise SignatureError("AccessDenied", "the Host header must be signed")
    canonical_headers = "".join(
        f"{name}:{' '.join(lower.get(name, '').split())}\n" for name in signed_names)
    canonical_request = "\n".join([
        method, raw_path or "/", _canonical_query(raw_query, drop_signature=presigned),
        canonical_headers, signed, payload_hash])
    string_to_sign = "\n".join([
        ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    date, region, service, _ = scope_parts
    key = _hmac(("AWS4" + secret_access_key).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("SignatureDoesNotMatch",
                             "The request signature we calculated does not match the signature "
                             "you provided.")
