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
