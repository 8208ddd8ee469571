"""Small tables as files: one CSV writer (the run log, per-image scores, sweeps), and what JSON
needs of a table with undefined figures."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["json_safe", "write_csv"]


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]],
              fields: Sequence[str] | None = None) -> None:
    """rows as CSV with a header; fields default to every key of the rows in first-seen order
    (a row lacking a field leaves its cell empty)."""
    fields = list(fields) if fields is not None else list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def json_safe(value: Any) -> Any:
    """`value` with every NaN (an undefined figure) replaced by None, in nested dicts and lists:
    JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value
