"""Refuse requests that a web page on another site, or a DNS-rebinding attack, would make.

In the default loopback mode without a token, any page a user visits could otherwise make the
browser POST an image to http://127.0.0.1:8000 (a "simple" cross-origin request needs no
preflight), and a rebound host name could read the answers. Two checks, before the request body
is read:

- **Host**: when the server is bound to a loopback address (or `allowed_hosts` are configured),
  the Host header's name must be the bound address, localhost, a loopback address, or one of
  `allowed_hosts`: a rebound name ("attacker.example") is refused with 421.
- **Origin**: a request that changes something (anything but GET, HEAD, OPTIONS) and carries an
  Origin header must come from the server's own origin (the Origin's host and port equal the Host
  header's): other origins are refused with 403. Clients that are not browsers send no Origin.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from dskd.deploy.serve.settings import is_loopback

__all__ = ["OriginGuard"]

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _host_name(host: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1'; '[::1]:8000' -> '::1'."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class OriginGuard:
    """ASGI middleware (module docstring)."""

    def __init__(self, app, *, bound_host: str, allowed_hosts: tuple[str, ...] = ()) -> None:  # noqa: ANN001
        self.app = app
        self.check_host = is_loopback(bound_host) or bool(allowed_hosts)
        self.allowed = {bound_host.lower(), "localhost", *(h.lower() for h in allowed_hosts)}

    def _host_allowed(self, name: str) -> bool:
        return name in self.allowed or is_loopback(name)

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.check_host and not self._host_allowed(_host_name(host).lower()):
            return await _refuse(send, 421, f"Host '{host}' is not this server's address; open the page at "
                                            "the address the server prints (or start it with --allowed-host)")
        origin = headers.get("origin")
        if origin is not None and scope["method"] not in _SAFE_METHODS:
            parts = urlsplit(origin)
            if origin == "null" or parts.netloc.lower() != host.lower():
                return await _refuse(send, 403, f"cross-origin request from '{origin}' refused; use the page "
                                                "this server serves, or call the API without a browser")
        return await self.app(scope, receive, send)


async def _refuse(send, status: int, message: str) -> None:  # noqa: ANN001
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
