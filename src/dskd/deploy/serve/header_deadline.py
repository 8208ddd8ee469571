"""A deadline for a request's headers, which uvicorn does not have.

uvicorn times out an idle keep-alive connection, but a client that opens a connection (or sends
a first byte after a response) and never finishes its request line and headers holds a
connection, and its buffer, for as long as it likes: the "slowloris" pattern that Apache's
RequestReadTimeout and nginx's client_header_timeout exist for. uvicorn takes the HTTP protocol
class as a setting, so this is a small subclass of its own h11 protocol rather than a server of
ours: a timer armed whenever the connection waits for a new request (connected, or a response
finished), disarmed once h11 has the complete headers, closing the connection when it fires.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HEADER_TIMEOUT_S", "header_deadline_protocol"]

HEADER_TIMEOUT_S = 20.0  # nginx's client_header_timeout is 60 s, Apache's first deadline 20 s


def header_deadline_protocol(seconds: float = HEADER_TIMEOUT_S) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request headers take over `seconds`."""

    class HeaderDeadlineProtocol(H11Protocol):
        header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self.header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _headers_too_slow(self) -> None:
            self.header_timer = None
            # Still waiting for a request's headers (not inside one): give the connection up.
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.logger.info("closed a connection whose request headers took over %.0f s", seconds)
                self.transport.close()

        def connection_made(self, transport) -> None:  # noqa: ANN001 - asyncio's signature
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the headers are in
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol
