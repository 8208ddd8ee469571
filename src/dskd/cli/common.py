"""Helpers the command groups share: the metric protocol, lengths, threads, devices."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dskd.errors import DskdError

__all__ = ["check_device", "protocol_from_args", "set_threads", "spacing_from_text"]

log = logging.getLogger("dskd")


def protocol_from_args(args: argparse.Namespace):
    from dskd.metrics.suite import METRIC_GROUPS, Protocol

    groups = tuple(g.strip() for g in args.metrics.split(",") if g.strip())
    unknown = [g for g in groups if g not in METRIC_GROUPS]
    if unknown or not groups:
        raise DskdError(f"--metrics {args.metrics}: unknown group '{unknown[0] if unknown else ''}'; "
                        f"valid: {', '.join(METRIC_GROUPS)}")
    return Protocol(connectivity=args.connectivity, empty_policy=args.empty_policy,
                    zero_division=args.zero_division, groups=groups,
                    spacing_mm=spacing_from_text(args.spacing))


def spacing_from_text(text: str | None) -> tuple[float, float] | None:
    """--spacing: "0.3" (square pixels), "0.3,0.25" (row, column) in mm, or a DICOM file whose
    pixel spacing applies (dskd.data.dicom.dicom_pixel_spacing)."""
    if text is None:
        return None
    from dskd.data.dicom import dicom_pixel_spacing
    from dskd.data.media import is_dicom

    if Path(text).is_file() and is_dicom(text):
        found = dicom_pixel_spacing(text)
        if found is None:
            raise DskdError(f"--spacing {text}: the file states no PixelSpacing or ImagerPixelSpacing; "
                            "give the spacing in mm instead")
        log.info("pixel spacing %.4f x %.4f mm from %s (%s)", *found.spacing, text, found.source)
        return found.spacing
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not all(0 < v < float("inf") for v in values):
        raise DskdError(f"--spacing {text}: expected millimetres per pixel, e.g. 0.3 or 0.3,0.25 "
                        "(row, column), or a DICOM file to read it from")
    return values[0], values[1]


def set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def check_device(name: str) -> None:
    """--device as one line (exit 2) when it names no device here, before any work."""
    from dskd.inference.backends import parse_device

    parse_device(name)
