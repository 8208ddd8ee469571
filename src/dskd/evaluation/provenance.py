"""Which code made a figure: the git commit of the toolkit, for result files and the test ledger."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["git_commit"]


def git_commit(where: str | Path | None = None) -> str:
    """The commit of the code (with '+dirty' when tracked files changed); 'unknown' outside git."""
    folder = Path(where) if where is not None else Path(__file__).parent
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")
