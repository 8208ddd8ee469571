"""One writer per output folder: a second `dskd predict` (or `dskd ablate`) into a folder in use is
refused at once.

    with folder_lock(out_dir):   # DskdError "out: another dskd predict (pid 4242) is writing here; ..."
        ...                      # summary.csv, failed.txt and the outputs belong to this run

The lock is an advisory lock (flock) on `<folder>/.dskd.lock`, which holds the holder's pid for
the message. The kernel drops it when its process ends, however it ends, so a run that was killed
leaves no lock that blocks the next one: its stale file is simply taken over. The file is removed
when the run ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from dskd.errors import DskdError
from dskd.writing import write_error

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["folder_lock", "LOCK_NAME"]

log = logging.getLogger(__name__)

LOCK_NAME = ".dskd.lock"


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "a process that is starting"


@contextlib.contextmanager
def folder_lock(folder: str | Path, *, command: str = "dskd predict") -> Iterator[None]:
    """Hold the folder's lock for the block; DskdError (one line, naming the holder's pid) when
    another process holds it, or when the folder cannot be written."""
    path = Path(folder) / LOCK_NAME
    if fcntl is None:
        log.warning("%s: no file locks on this platform; do not run two %s into this folder at once",
                    folder, command)
        yield
        return
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise write_error(folder, error) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DskdError(f"{folder}: another {command} ({holder}) is writing here; wait for it to "
                            "finish or choose another --out") from None
        # The previous holder removes the file as it ends: if ours is no longer the file at that
        # path, the lock we got guards nothing, so open the path again.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
            break
        os.close(fd)
    try:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as error:
            raise write_error(path, error) from None
        yield
    finally:
        # Removed while still held, so that a waiter that opened it sees it gone and opens anew.
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
