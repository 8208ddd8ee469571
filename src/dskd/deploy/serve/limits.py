"""The request limits that need state: a time budget per request, and a gate that lets a fixed
number of inferences run with a bounded queue behind them.

    deadline = Deadline(180.0)
    async with gate.slot(deadline):       # 429 at once when the queue is full
        ...                               # deadline.check() between frames: 504 past the budget
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator

from dskd.deploy.serve.errors import RequestError

__all__ = ["Deadline", "InferenceGate"]


class Deadline:
    """The time left to a request; its budget covers upload, wait and inference."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def check(self) -> None:
        """Raise 504 once the budget is spent (called between frames: a frame is not interrupted)."""
        if time.monotonic() > self.end:
            raise RequestError(504, f"the request did not finish within the server's {self.seconds:g} s "
                                    "limit (--timeout); send fewer frames or smaller images")


class InferenceGate:
    """At most `concurrent` inferences at once, `queue` more waiting, the rest refused at once.

    Runs on the event loop (no locks needed: counting happens between awaits). Retry-After is the
    expected wait of a full queue, from a moving average of recent inference times.
    """

    def __init__(self, concurrent: int, queue: int) -> None:
        self.concurrent, self.queue = concurrent, queue
        self.pending = 0  # running + waiting
        self.mean_s = 1.0
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def retry_after_s(self) -> int:
        return max(1, min(600, math.ceil(self.mean_s * (self.queue + 1) / self.concurrent)))

    def _get_semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()  # test clients may run the app on a new loop each time
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.concurrent), loop
        return self._semaphore

    def refuse_if_full(self) -> None:
        """429 at once when every slot and the queue are taken: called before the upload is read,
        so a busy server answers without receiving the body first."""
        if self.pending >= self.concurrent + self.queue:
            wait = self.retry_after_s()
            raise RequestError(429, f"the server is busy ({self.concurrent} inference(s) running and "
                                    f"{self.queue} waiting); retry after {wait} s",
                               headers={"Retry-After": str(wait)})

    @contextlib.asynccontextmanager
    async def slot(self, deadline: Deadline) -> AsyncIterator[None]:
        """Hold one of the inference slots; 429 when all are taken and the queue is full, 504
        when the deadline passes while waiting."""
        self.refuse_if_full()
        semaphore = self._get_semaphore()
        self.pending += 1
        try:
            try:
                await asyncio.wait_for(semaphore.acquire(), timeout=deadline.remaining())
            except asyncio.TimeoutError:
                raise RequestError(504, f"no inference slot became free within the server's "
                                        f"{deadline.seconds:g} s limit (--timeout); retry later",
                                   headers={"Retry-After": str(self.retry_after_s())}) from None
            start = time.monotonic()
            try:
                yield
            finally:
                semaphore.release()
                self.mean_s = 0.8 * self.mean_s + 0.2 * (time.monotonic() - start)
        finally:
            self.pending -= 1
