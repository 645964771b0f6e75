"""free_port: a port the service can still bind seconds later."""

import socket

from kedro_mlops.local.stack.process import _ephemeral_ports, free_port


def test_free_ports_lie_outside_the_ephemeral_range_and_can_be_bound():
    ephemeral = _ephemeral_ports()
    for _ in range(20):
        port = free_port()
        assert port not in ephemeral, "an outgoing connection could take it before the bind"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))


def test_a_port_in_use_is_skipped(monkeypatch):
    from kedro_mlops.local.stack import process

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        # the busy port is the first candidate tried
        monkeypatch.setattr(process.random.SystemRandom, "sample",
                            lambda self, ports, k: [busy, *(p for p in ports[:k] if p != busy)])
        port = free_port()
        assert port != busy and port not in _ephemeral_ports()
