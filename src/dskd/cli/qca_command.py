"""dskd qca: quantitative coronary analysis of vessel masks (docs/qca.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dskd.errors import DskdError

__all__ = ["add_qca_command", "add_calibration_options", "calibration_from_args"]

_IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".pgm")


def _masks(inputs: list[str]) -> list[Path]:
    masks: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            masks += sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        elif path.is_file():
            masks.append(path)
        else:
            raise DskdError(f"{path}: no such file or folder")
    if not masks:
        raise DskdError(f"no mask files in {', '.join(inputs)} ({', '.join(_IMAGE_SUFFIXES)})")
    return masks


def _point(text: str) -> tuple[float, float]:
    try:
        row, col = (float(v) for v in text.split(","))
    except ValueError:
        raise DskdError(f"--catheter-point {text}: expected ROW,COL in pixels, e.g. 120,48") from None
    return row, col


def calibration_from_args(args: argparse.Namespace):  # noqa: ANN201 (lazy imports)
    """(Calibration, CatheterPoint or None) from the options of add_calibration_options."""
    from dskd.deploy.qca import CatheterPoint
    from dskd.qca import PIXELS, from_dicom, from_user

    given = [args.mm_per_px is not None, args.dicom is not None, args.catheter is not None]
    if sum(given) > 1:
        raise DskdError("give one calibration: --mm-per-px, --dicom or --catheter (with --catheter-point)")
    if (args.catheter is None) != (args.catheter_point is None):
        raise DskdError("--catheter F and --catheter-point ROW,COL go together")
    calibration = (
        from_user(args.mm_per_px)
        if args.mm_per_px is not None
        else from_dicom(args.dicom)
        if args.dicom is not None
        else PIXELS
    )
    catheter = None if args.catheter is None else CatheterPoint(args.catheter, *_point(args.catheter_point))
    return calibration, catheter


def _cmd_qca(args: argparse.Namespace) -> int:
    from dskd.deploy.qca import QCAInput, qca_files

    calibration, catheter = calibration_from_args(args)
    folders = {}
    for option, folder in (("--probabilities", args.probabilities), ("--images", args.images)):
        if folder is not None and not Path(folder).is_dir():
            raise DskdError(f"{option} {folder}: not a folder")
        folders[option] = None if folder is None else Path(folder)
    items = [QCAInput(mask, folders["--probabilities"], folders["--images"]) for mask in _masks(args.masks)]
    report = qca_files(
        items, args.out, calibration=calibration, catheter=catheter, min_stenosis=args.min_stenosis
    )
    print(
        f"{len(report.done)} mask(s) measured, {len(report.lesions)} lesion(s) of >= {args.min_stenosis:g}% "
        f"diameter stenosis; calibration: {calibration.source if catheter is None else 'catheter, per mask'}"
    )
    print(
        f"wrote {Path(args.out) / 'lesions.csv'} and per mask: _segments.csv, _lesions.csv, _qca.json, "
        "_qca.png, _lesion<k>.png"
    )
    if report.failures:
        print(
            f"{len(report.failures)} file(s) failed and were skipped; see {Path(args.out) / 'failed.txt'}",
            file=sys.stderr,
        )
        return 1
    return 0


def add_qca_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("qca", help="stenosis measurements (QCA) from vessel masks (docs/qca.md)")
    p.add_argument("masks", nargs="+", help="binary vessel masks (files or folders), from dskd or any tool")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument(
        "--probabilities",
        default=None,
        metavar="DIR",
        help="folder of probability maps named like the masks: diameters from their 0.5 "
        "crossing, sub-pixel (default: from the binary mask, +-1 px)",
    )
    p.add_argument(
        "--images",
        default=None,
        metavar="DIR",
        help="folder of the angiograms named like the masks, drawn under the overlay (default: the mask)",
    )
    p.add_argument(
        "--min-stenosis",
        type=float,
        default=50.0,
        help="report lesions of at least this %% diameter stenosis (default 50: 'significant')",
    )
    add_calibration_options(p)
    p.set_defaults(func=_cmd_qca)


def add_calibration_options(p: argparse.ArgumentParser, *, default: str = "none, figures in pixels") -> None:
    """--mm-per-px, --dicom, --catheter and --catheter-point (calibration_from_args reads them)."""
    cal = p.add_argument_group(f"QCA calibration (one of them; default: {default})")
    cal.add_argument("--mm-per-px", type=float, default=None, help="millimetres per pixel in the patient")
    cal.add_argument(
        "--dicom",
        default=None,
        metavar="FILE",
        help="read it from a DICOM file: Pixel Spacing, or Imager Pixel Spacing / magnification",
    )
    cal.add_argument(
        "--catheter",
        type=float,
        default=None,
        metavar="F",
        help="guiding catheter size in French (1 F = 1/3 mm) measured on each mask",
    )
    cal.add_argument(
        "--catheter-point",
        default=None,
        metavar="ROW,COL",
        help="a pixel on the catheter's shaft (with --catheter)",
    )
