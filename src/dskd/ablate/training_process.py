"""One grid cell's training in a process of its own, through training's Python entry point
(`dskd.training.fit.fit`), with its output in the run's log file.

A process per run keeps runs apart (torch's threads, seeds and memory start fresh) and lets a
worker end a run at once; the interface is the config and `fit`, not command-line flags.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from pathlib import Path

from dskd.errors import DskdError

__all__ = ["train_in_process", "stop_training", "die_with_parent"]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_TRAINING: set[BaseProcess] = set()  # this process's running trainings, for stop_training


def die_with_parent(parent: int) -> None:
    """Get SIGTERM when the process `parent` ends (Linux; nothing elsewhere), so no run trains on
    without the process that holds the grid folder's lock."""
    if sys.platform.startswith("linux"):
        # Linux's parent-death signal, prctl(PR_SET_PDEATHSIG): the standard library has no call
        # for it and python-prctl is a C extension for this one call, so ctypes reaches libc.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)


def stop_training(signum: int, frame: object = None) -> None:
    """SIGTERM handler of a pool worker: end its training (the run resumes next time), exit."""
    for process in list(_TRAINING):
        process.terminate()
        process.join(timeout=30)
    os._exit(128 + signum)  # not SystemExit: the pool's worker loop would catch it and wait on


def _train(base: str, overrides: list[str], folder: str, resume: bool, log_path: str,
           parent: int) -> None:
    """The training process: its output to log_path, then fit (an error ends it with exit 1)."""
    die_with_parent(parent)
    with open(log_path, "a") as handle:  # native output too (tqdm, warnings): the descriptors
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    from dskd.config import load_config
    from dskd.training.fit import fit

    try:
        fit(load_config(base, overrides), folder, resume=resume)
    except DskdError as error:
        print(f"dskd: error: {error}", file=sys.stderr)
        sys.exit(1)


def train_in_process(base: str | Path, overrides: list[str], folder: str | Path, *, resume: bool,
                     threads: int, note: str = "") -> None:
    """Train `base` with `overrides` (later values win) into `folder` (resuming it when asked)
    in a new process with `threads` threads; waits for it. Its output is appended to
    <folder>.log, after a header line (and `note`, a line for the reader, when given). Raises
    DskdError naming the log when the training fails."""
    folder = Path(folder)
    log_path = folder.parent / f"{folder.name}.log"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as handle:
        handle.write(f"$ fit {base} into {folder}{' (resume)' if resume else ''}: "
                     f"{' '.join(overrides)}\n" + (f"NOTE {note}\n" if note else ""))
    # The OpenMP pool is sized when torch loads: the new process reads these at start.
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update({k: str(threads) for k in saved})
    try:
        process = get_context("spawn").Process(
            target=_train, args=(str(base), list(overrides), str(folder), resume, str(log_path),
                                 os.getpid()), name=f"train {folder.name}")
        process.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    _TRAINING.add(process)
    try:
        process.join()
        code = process.exitcode
    finally:
        _TRAINING.discard(process)
    process.close()
    if code != 0:
        raise DskdError(f"{folder}: training exited {code}; see {log_path}")
