"""Writing files whole or not at all, into output folders checked before any work, with one-line
errors for places that cannot be written (docs/errors.md).

    with atomic_path(out / "model.onnx") as tmp:   # a unique temporary name beside the target
        write_something(tmp)                        # renamed onto the target when the block ends,
                                                    # deleted if it raises (disk full, Ctrl-C, ...)
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from dskd.errors import DskdError

__all__ = ["atomic_path", "temporary_path", "make_output_folder", "write_error", "os_error_in"]

_FIXES = {
    errno.ENOSPC: "free some space or choose another location",
    errno.EDQUOT: "free some space or choose another location",
    errno.EFBIG: "free some space or choose another location",
    errno.EACCES: "choose a folder you may write to",
    errno.EPERM: "choose a folder you may write to",
    errno.EROFS: "the file system is read-only; choose another location",
    errno.ENOTDIR: "a file stands where a folder is needed; choose another location",
    errno.EEXIST: "a file stands where a folder is needed; choose another location",
    errno.EISDIR: "a folder stands where the file should go; name a file",
}


def write_error(path: str | Path, error: OSError) -> DskdError:
    """A one-line DskdError for an OSError met while writing `path`: what failed and the fix."""
    reason = error.strerror or str(error) or type(error).__name__
    fix = _FIXES.get(error.errno or 0, "check the location and try again")
    return DskdError(f"{path}: cannot write ({reason}); {fix}")


def os_error_in(error: BaseException) -> OSError | None:
    """The OSError behind an error, if any: torch and Pillow re-raise disk-full as their own types
    with the OSError as the cause or context."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def temporary_path(path: str | Path) -> Path:
    """Create and return an empty file beside `path` with a name no other writer uses (pid and a
    random part): concurrent runs never write into each other's temporary files. Hidden (leading
    dot), so folder scans skip it. Created with the usual permissions (0666 less the umask)."""
    path = Path(path)
    while True:
        candidate = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return candidate


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` (temporary_path) that is renamed onto `path` when the block
    ends, and deleted when it raises anything, KeyboardInterrupt included. OSErrors of the block
    (a full disk) come out as one-line DskdErrors naming `path`."""
    path = Path(path)
    try:
        tmp = temporary_path(path)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        cause = os_error_in(error)
        if cause is not None and not isinstance(error, DskdError):
            raise write_error(path, cause) from None
        raise


def make_output_folder(path: str | Path, option: str = "--out") -> Path:
    """Create `path` (and its parents) if needed; one-line DskdError, naming the option, when it is a
    file, lies under a file, or cannot be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DskdError(f"{option} {path}: is a file, not a folder; choose a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DskdError(f"{option} {path}: cannot create it ({error.strerror or error}); "
                        f"{_FIXES.get(error.errno or 0, 'choose another location')}") from None
    return path
