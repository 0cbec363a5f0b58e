"""Network: TCP and UDP to a loopback server the test runs, Unix sockets (a file and an abstract name), DNS."""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adversarial.conftest import hostile


class Listener:
    """A server on the grading machine that records whatever reaches it."""

    def __init__(self, sock: socket.socket, address: object, stream: bool):
        self.sock, self.address, self.received = sock, address, []
        sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(stream,), daemon=True)
        self._thread.start()

    def _serve(self, stream: bool) -> None:
        while not self._stop.is_set():
            try:
                if stream:
                    conn, _ = self.sock.accept()
                    with conn:
                        self.received.append(conn.recv(100) or b"<connected>")
                else:
                    self.received.append(self.sock.recv(100))
            except OSError:
                continue  # timeout: look at the stop flag again

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener(request) -> Iterator[Listener]:
    kind = request.param
    folder = None
    if kind == "tcp":
        sock = socket.create_server(("127.0.0.1", 0))
        address = sock.getsockname()
    elif kind == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        address = sock.getsockname()
    elif kind == "unix":
        folder = tempfile.mkdtemp(prefix="adversarial-socket-")
        os.chmod(folder, 0o755)
        address = os.path.join(folder, "grader.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address)
        os.chmod(address, 0o777)  # even open to everyone, like a careless daemon's socket
        sock.listen()
    else:  # an abstract Unix socket: no file, no permissions, only the network namespace separates it
        address = "\0adversarial-" + secrets.token_hex(4)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address)
        sock.listen()
    server = Listener(sock, address, stream=kind != "udp")
    yield server
    server.close()
    if folder:
        Path(address).unlink()
        os.rmdir(folder)


CLIENTS = {
    "tcp": "socket.create_connection({address!r}, timeout=2).sendall(b'stolen')",
    "udp": "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'stolen', {address!r})",
    "unix": "_unix({address!r})",
    "abstract": "_unix({address!r})",
}


@pytest.mark.parametrize("listener", sorted(CLIENTS), indirect=True)
def test_nothing_reaches_a_server_on_the_grading_machine(grader, listener, request):
    kind = request.node.callspec.params["listener"]
    call = CLIENTS[kind].format(address=listener.address)
    attack = grader.attack(f"network_{kind}", hostile(f"""
        import socket

        def _unix(address):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(2)
            client.connect(address)
            client.sendall(b"stolen")

        def train(model, x, y, epochs, lr):
            _report(outcome=_attempt(lambda: {call}))
    """))
    assert attack.verdict()["outcome"] != "ok", attack.verdict()
    assert listener.received == []


def test_name_lookups_fail(grader):
    attack = grader.attack("dns", hostile("""
        import socket

        def train(model, x, y, epochs, lr):
            _report(outcome=_attempt(lambda: socket.getaddrinfo("pypi.org", 443)))
    """))
    assert attack.verdict()["outcome"] in ("gaierror", "PermissionError", "OSError"), attack.verdict()
