"""The local stack's S3 server answers without waiting on the client's ACKs."""

from __future__ import annotations

import socket
import threading
from http.server import ThreadingHTTPServer

from kedro_mlops.local.stack.localbucket_server import Handler


def test_the_s3_server_sends_each_response_at_once():
    # http.server sends a response's headers and body apart: with Nagle's algorithm the body
    # waited 40 ms for the client's delayed ACK, on every GET and every listing
    nodelay: list[int] = []

    class Probe(Handler):
        def handle(self):  # the connection as the server set it up, before any S3 work
            nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Probe)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(server.server_address, timeout=10) as client:
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            client.recv(1)  # returns once the server has handled and closed the connection
    finally:
        server.shutdown()
        server.server_close()
    assert nodelay == [1]


KEYS = ["a/b/c1", "a/b/c2/d", "a/b/c2/e/f", "a/b/c3", "a/bz", "a/b.x", "ab", "a0/x", "b/c",
        "a/b/.localbucket-tmp1"]  # localbucket's own temporary file, never listed


def test_a_listing_walks_the_prefix_folder_and_answers_as_the_whole_bucket_walk(tmp_path):
    from localbucket import S3Handler

    bucket = tmp_path / "bucket"
    for key in KEYS:
        (bucket / key).parent.mkdir(parents=True, exist_ok=True)
        (bucket / key).write_text(key)
    handler = object.__new__(Handler)  # listing uses none of a request's state
    prefixes = ["", "a", "a/", "a/b", "a/b/", "a/b/c", "a/b/c2/", "a/b/c2/e/", "a/bz", "b/",
                "missing/", "a/missing/x", "a//b", "a/../b/", "a/./b"]
    markers = ["", "a", "a/", "a/b/", "a/b/c1", "a/b/c2/", "a/b/c2/d", "a/b/c3", "a/c", "a0",
               "b/c", "zz", "0"]
    checked = 0
    for prefix in prefixes:
        for delimiter in ("", "/"):
            for marker in markers:
                for marker_is_prefix in (False, True):
                    for max_keys in (0, 1, 2, 1000):
                        args = (prefix, delimiter, marker, marker_is_prefix, max_keys)
                        walked = Handler._list_entries(handler, bucket, *args)
                        assert walked == S3Handler._list_entries(handler, bucket, *args), args
                        checked += bool(walked[0] or walked[1])
    assert checked > 100  # most cases list something: the comparison is not of empty pages
