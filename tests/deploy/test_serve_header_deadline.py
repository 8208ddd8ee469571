"""serve's header deadline: a connection that never finishes its request headers is closed, on
a new connection and between keep-alive requests; uvicorn alone keeps it open."""

import socket
import threading
import time

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="needs the serve extra: pip install -e '.[serve]'")

from dskd.deploy.serve.header_deadline import header_deadline_protocol  # noqa: E402

DEADLINE = 0.5


async def _hello(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _serve(**protocol):
    config = uvicorn.Config(_hello, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                            timeout_keep_alive=30, **protocol)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    return server, server.servers[0].sockets[0].getsockname()[1]


@pytest.fixture(scope="module")
def guarded():
    server, port = _serve(http=header_deadline_protocol(DEADLINE))
    yield port
    server.should_exit = True


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection within `seconds` (recv sees the end)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_half_sent_headers_are_cut_off(guarded):
    with socket.create_connection(("127.0.0.1", guarded)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert _closed_within(sock, DEADLINE + 3)


def test_a_kept_alive_connection_gets_a_new_deadline_for_its_next_headers(guarded):
    with socket.create_connection(("127.0.0.1", guarded)) as sock:
        # headers in pieces, all within the deadline: served
        for piece in (b"GET / HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(DEADLINE / 5)
        sock.settimeout(5)
        assert sock.recv(1024).endswith(b"ok")
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 1")  # the next request stalls
        assert _closed_within(sock, DEADLINE + 3)


def test_plain_uvicorn_keeps_the_stalled_connection():
    # The defect the protocol mends: no deadline at all (the keep-alive timer is off once a byte came).
    server, port = _serve()
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            assert not _closed_within(sock, DEADLINE + 1.5)
    finally:
        server.should_exit = True
