"""Small tables written as CSV: one writer for the run log, per-image scores and sweeps."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["write_csv"]


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]],
              fields: Sequence[str] | None = None) -> None:
    """rows as CSV with a header; fields default to every key of the rows in first-seen order
    (a row lacking a field leaves its cell empty)."""
    fields = list(fields) if fields is not None else list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
