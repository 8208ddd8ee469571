"""The one exception a request handler raises for a problem with the request: an HTTP status and
one sentence, sent as `{"error": "..."}`."""

from __future__ import annotations

__all__ = ["RequestError"]


class RequestError(Exception):
    """status: the HTTP status (4xx for the client's problems, 504 for the time limit);
    message: one sentence naming the problem and, where there is one, the fix."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
