"""localbucket, plus the two S3 calls it lacks that the stack's clients make, and signatures.

localbucket 1.2.1 answers DeleteObjects and GetBucketLocation with 501 NotImplemented, but
s3fs deletes through DeleteObjects only (`fs.rm`, `fs.mv`, PartitionedDataset overwrite,
MLflow artifact deletion), and some clients ask for a bucket's location. It also checks no
credentials: anyone who can reach the port could read and write the bucket. This server
program is localbucket's own `main()` with a handler that adds those two operations and
refuses every request not signed (SigV4) with the key pair in AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY of its environment (the stack's, kedro_mlops.local.settings).
Run: `python -m kedro_mlops.local.stack.localbucket_server DATA_ROOT --host H --port P`.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from http import HTTPStatus
from urllib.parse import urlsplit

import localbucket
from localbucket import S3_NAMESPACE, S3Error, S3Handler, sub_element

from .s3_sigv4 import SignatureError, verify


class Handler(S3Handler):
    access_key_id = ""
    secret_access_key = ""
    # http.server writes a response's headers and its body in two sends; with Nagle's algorithm
    # the body waits for the client's delayed ACK of the headers: 40 ms on every GET and list
    # (each task's reads, each file and folder of an MLflow model download). MinIO answers at once.
    disable_nagle_algorithm = True

    def _dispatch(self, action):
        url = urlsplit(self.path)
        try:
            verify(self.command, url.path, url.query, self.headers, self.access_key_id,
                   self.secret_access_key)
        except SignatureError as err:
            status = HTTPStatus.BAD_REQUEST if err.code == "AuthorizationHeaderMalformed" \
                else HTTPStatus.FORBIDDEN
            self._send_error(S3Error(status, err.code, err.message))
            return
        super()._dispatch(action)

    def _list_entries(self, bucket_dir, prefix, delimiter, marker, marker_is_prefix, max_keys):
        # localbucket walks the whole bucket for each listing, so every listing got slower with
        # each run the stack kept (MLflow lists every folder of a model it downloads). Keys under
        # the prefix all lie in the folder of its last "/": walk that folder alone.
        full = super()._list_entries
        folder = prefix.rpartition("/")[0]
        parts = folder.split("/")
        start = bucket_dir.joinpath(*parts)
        if not folder or any(part in ("", ".", "..") for part in parts) \
                or not start.resolve().is_relative_to(bucket_dir.resolve()):
            return full(bucket_dir, prefix, delimiter, marker, marker_is_prefix, max_keys)
        head = folder + "/"
        if marker.startswith(head):
            marker = marker[len(head):]
            if not marker and marker_is_prefix:
                return [], [], False, ""  # the folder itself, a prefix to skip: nothing is left
        elif marker:
            if marker.encode() > head.encode() or (marker_is_prefix and head.startswith(marker)):
                return [], [], False, ""  # the marker is past every key under the folder
            marker, marker_is_prefix = "", False
        contents, common_prefixes, truncated, last_entry = full(
            start, prefix[len(head):], delimiter, marker, marker_is_prefix, max_keys)
        return ([(head + key, path) for key, path in contents],
                [head + common for common in common_prefixes], truncated,
                last_entry[:2] + head + last_entry[2:] if last_entry else last_entry)

    def _post_request(self, bucket: str, key: str):
        if bucket and not key and "delete" in self.query:
            self._check_query("DeleteObjects", {"delete"})
            self._delete_objects(bucket, self._read_body())
            return
        super()._post_request(bucket, key)

    def _get_request(self, bucket: str, key: str):
        if bucket and not key and "location" in self.query:
            self._check_query("GetBucketLocation", {"location"})
            self._bucket_dir(bucket)
            self._send_xml(ET.Element("LocationConstraint", xmlns=S3_NAMESPACE))  # us-east-1
            return
        super()._get_request(bucket, key)

    def _delete_objects(self, bucket: str, body: bytes):
        bucket_dir = self._bucket_dir(bucket).resolve()
        try:
            request = ET.fromstring(body)
        except ET.ParseError:
            raise self._malformed_xml_error() from None
        quiet = False
        keys: list[str] = []
        for child in request:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "Quiet":
                quiet = (child.text or "").strip().lower() == "true"
            elif tag == "Object":
                for part in child:
                    if part.tag.rsplit("}", 1)[-1] == "Key":
                        keys.append(part.text or "")
        if not keys or len(keys) > 1000:
            raise self._malformed_xml_error()
        result = ET.Element("DeleteResult", xmlns=S3_NAMESPACE)
        for key in keys:
            try:
                target = self._object_path(bucket, key)
                if target.is_file():
                    target.unlink(missing_ok=True)
                    parent = target.parent
                    while parent != bucket_dir:  # remove folders left empty, as DeleteObject
                        try:
                            parent.rmdir()
                        except OSError:
                            break
                        parent = parent.parent
            except S3Error as err:
                error = ET.SubElement(result, "Error")
                sub_element(error, "Key", key)
                sub_element(error, "Code", err.code)
                sub_element(error, "Message", err.message)
                continue
            if not quiet:
                sub_element(ET.SubElement(result, "Deleted"), "Key", key)
        self._send_xml(result)


def main() -> None:
    key_id = os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not key_id or not secret:
        print("localbucket_server: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the key "
              "pair clients must sign requests with)", file=sys.stderr)
        sys.exit(2)
    Handler.access_key_id, Handler.secret_access_key = key_id, secret
    # localbucket.main() looks S3Handler up in its module when it builds the server.
    localbucket.S3Handler = Handler
    localbucket.main()


if __name__ == "__main__":
    main()

