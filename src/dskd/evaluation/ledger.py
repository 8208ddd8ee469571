"""The test-set ledger: every look at a split that a split file marks as test, appended by dskd.

A test split stays an honest estimate only while it is looked at once per choice made elsewhere;
the ledger makes each look visible. `dskd evaluate` (and every script that scores through
dskd.evaluation.evaluate_checkpoint) appends one JSON line per scoring of a split file's "test"
part, whatever the figure says:

    {"date": "2026-12-06T04:40:00+00:00", "split_file": "splits/cimat.json", "part": "test",
     "what": "runs/r1/best.pt", "data": "../shared/data/cimat", "n_images": 20,
     "figure": {"dice": 0.7851, "dice_pooled": 0.7912}, "tta": "none", "threshold": 0.55,
     "commit": "8e2f638...", "command": "dskd evaluate ...", "out": "runs/r1/test"}

The ledger lives beside the split file (`<folder of the split file>/test-ledger.jsonl`) unless a
path is given (`dskd evaluate --ledger`, or DSKD_TEST_LEDGER read by the command line). Its
location is checked before the work, so a run that could not record its look does not score.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import sys
from pathlib import Path

from dskd.errors import DskdError
from dskd.evaluation.provenance import git_commit

__all__ = ["LEDGER_NAME", "ledger_path", "check_ledger", "record_look", "read_ledger"]

LEDGER_NAME = "test-ledger.jsonl"


def ledger_path(split_file: str | Path, ledger: str | Path | None = None) -> Path:
    """Where looks at `split_file`'s test part are recorded: `ledger`, else beside the split file."""
    return Path(ledger) if ledger is not None else Path(split_file).parent / LEDGER_NAME


def check_ledger(path: Path) -> None:
    """One-line DskdError, before any work, when the ledger cannot be appended to."""
    if path.is_dir():
        raise DskdError(f"test ledger {path}: is a folder; give a file with --ledger")
    folder = path.parent
    writable = path if path.exists() else folder
    if not folder.is_dir() or not os.access(writable, os.W_OK):
        raise DskdError(f"test ledger {path}: cannot be written; every look at a test split is recorded, "
                        "so give a writable file with --ledger (or DSKD_TEST_LEDGER)")


def _portable(path: str | Path) -> str:
    """`path` relative to the working directory when it lies there or beside it (the ledger is
    committed: "splits/cimat_cv5.json", "../shared/data/cimat", not one machine's absolute
    layout); as given otherwise."""
    here, path = Path.cwd(), Path(path)
    if path.is_absolute() and (path.is_relative_to(here) or path.is_relative_to(here.parent)):
        return os.path.relpath(path, here)
    return str(path)


def _command() -> str:
    """This process's command line as a person would type it: `dskd evaluate ...`, or `python
    benchmarks/x.py ...` for a script."""
    program = Path(sys.argv[0])
    name = f"python {_portable(program.resolve())}" if program.suffix == ".py" else program.name
    return " ".join([name, *sys.argv[1:]])


def record_look(path: Path, *, split_file: str | Path, part: str, what: str, data: str, n_images: int,
                figure: dict[str, float], threshold: float | None, tta: str, out: str | Path | None) -> dict:
    """Append one look to the ledger (under an exclusive lock, so concurrent runs do not interleave)."""
    entry = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "split_file": _portable(split_file), "part": part, "what": what, "data": _portable(data),
             "n_images": n_images, "figure": {k: round(v, 4) for k, v in figure.items()},
             "tta": tta, "threshold": threshold, "commit": git_commit(), "command": _command(),
             "out": _portable(out) if out is not None else None}
    try:
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps(entry) + "\n")
    except OSError as error:
        raise DskdError(f"test ledger {path}: cannot append ({error.strerror or error}); the scores "
                        f"are in {out}, record the look by hand") from None
    return entry


def read_ledger(path: str | Path) -> list[dict]:
    """Every look recorded in a ledger, oldest first ([] when there is none yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
