"""A local HTTP server on 127.0.0.1 serving one archive, for the download tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ArchiveServer:
    """Serves one payload at /DB.zip, with HTTP Range support that can be switched off, and can
    cut the first transfer short or answer every request with an error status."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.break_after: int | None = None  # cut the next transfer after this many bytes
        self.honour_range = True
        self.status: int | None = None  # answer every request with this status instead
        self.range_offset = 0  # a faulty server: answer a Range request this many bytes too early
        self.ranges: list[str | None] = []  # the Range header of every request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                server.ranges.append(self.headers.get("Range"))
                if server.status is not None:
                    self.send_error(server.status)
                    return
                body, start = server.payload, 0
                header = self.headers.get("Range")
                if header and server.honour_range:
                    start = int(header.removeprefix("bytes=").rstrip("-")) - server.range_offset
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                chunk = body[start:]
                if server.break_after is not None:
                    chunk, server.break_after = chunk[: server.break_after], None
                    self.close_connection = True
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/DB.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def __enter__(self) -> ArchiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def clear_proxies(monkeypatch) -> None:
    """urllib honours *_proxy variables: requests to 127.0.0.1 must not go through a proxy."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
