"""The machine a figure was measured on, in words: timings and training times mean nothing without
it (CPU features differ between the machines one experiment runs on)."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

from dskd.inference.precision import cpu_bf16_units

__all__ = ["cpu_name", "describe_machine"]


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (platform's guess elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_machine() -> str:
    """One line, e.g. 'Intel(R) Xeon(R) Processor, 2 cores, bf16 units: AMX'."""
    return f"{cpu_name()}, {os.cpu_count()} cores, bf16 units: {cpu_bf16_units() or 'none'}"
