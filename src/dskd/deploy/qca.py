"""`dskd qca`: quantitative coronary analysis of masks from dskd or any other tool (docs/qca.md).

Per mask <name>: <name>_segments.csv, <name>_lesions.csv, <name>_qca.json, <name>_qca.png (the
centreline coloured by diameter over the image or mask, each lesion marked with its %DS and MLD)
and <name>_lesion<k>.png (each lesion's diameter profile with its reference line); over the batch,
lesions.csv (every lesion of every mask). Every row and picture states its unit and where the
calibration came from. A file that cannot be read is reported as one line, listed in failed.txt
and skipped; the batch goes on (docs/errors.md).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dskd.data.io import read_image, read_mask
from dskd.errors import DskdError
from dskd.qca import PIXELS, Calibration, FrameQCA, analyse_frame, lesion_rows, measure_width_at, segment_rows
from dskd.qca.calibration import from_catheter
from dskd.tables import write_csv
from dskd.writing import make_output_folder

__all__ = ["QCAInput", "CatheterPoint", "QCAReport", "qca_files", "write_frame_outputs"]

log = logging.getLogger(__name__)


_IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".pgm")


@dataclass(frozen=True)
class QCAInput:
    """A mask, and the folders of its probability map (8- or 16-bit PNG/TIFF: 0..max -> 0..1) and
    of its angiogram (for the overlay), each file named like the mask."""

    mask: Path
    probabilities: Path | None = None
    images: Path | None = None

    def partner(self, folder: Path | None, option: str) -> Path | None:
        if folder is None:
            return None
        matches = sorted(p for p in folder.glob(f"{self.mask.stem}.*") if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not matches:
            raise DskdError(f"{self.mask}: {option} {folder} holds no file named {self.mask.stem}.*")
        return matches[0]


@dataclass(frozen=True)
class CatheterPoint:
    french: float
    row: float
    col: float


@dataclass
class QCAReport:
    done: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    lesions: list[dict] = field(default_factory=list)


def _calibration(
    item: QCAInput,
    mask: np.ndarray,
    probability: np.ndarray | None,
    calibration: Calibration,
    catheter: CatheterPoint | None,
) -> Calibration:
    if catheter is None:
        return calibration
    width = measure_width_at(mask, (catheter.row, catheter.col), probability=probability)
    try:
        return from_catheter(width, catheter.french, (catheter.row, catheter.col))
    except DskdError as error:
        raise DskdError(f"{item.mask}: {error}") from None


def _read(item: QCAInput) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    mask = read_mask(item.mask)
    probability_file = item.partner(item.probabilities, "--probabilities")
    image_file = item.partner(item.images, "--images")
    probability = read_image(probability_file) if probability_file is not None else None
    image = read_image(image_file) if image_file is not None else None
    for what, array in (("probability map", probability), ("image", image)):
        if array is not None and array.shape != mask.shape:
            raise DskdError(
                f"{item.mask}: the {what} is {array.shape[1]}x{array.shape[0]}, the mask "
                f"{mask.shape[1]}x{mask.shape[0]}; they must match"
            )
    if not mask.any():
        raise DskdError(f"{item.mask}: the mask is empty; nothing to measure")
    return mask, probability, image


def write_frame_outputs(out_dir: Path, name: str, result: FrameQCA, *, background: np.ndarray,
                        frame: int | None = None, frame_choice: str | None = None,
                        stability: dict | None = None) -> list[Path]:
    """The CSVs, JSON, pictures and printable page of one frame's QCA (module docstring);
    `stability` (a cine's, from deploy.qca_writer) goes into the page."""
    from dskd.deploy.qca_pictures import write_lesion_profiles, write_overlay
    from dskd.deploy.qca_report import write_qca_report

    segments, lesions = segment_rows(result), lesion_rows(result)
    paths = [out_dir / f"{name}_segments.csv", out_dir / f"{name}_lesions.csv", out_dir / f"{name}_qca.json"]
    write_csv(paths[0], segments, list(segments[0]) if segments else ["segment"])
    write_csv(paths[1], lesions, list(lesions[0]) if lesions else ["lesion", "calibration"])
    paths[2].write_text(json.dumps({"name": name, **result.to_dict()}, indent=1))
    paths.append(write_overlay(out_dir / f"{name}_qca.png", background, result))
    paths += write_lesion_profiles(out_dir, name, result)
    paths.append(write_qca_report(out_dir, name, result, pictures=list(paths), frame=frame,
                                  frame_choice=frame_choice, stability=stability))
    return paths


def qca_files(
    items: list[QCAInput],
    out_dir: str | Path,
    *,
    calibration: Calibration = PIXELS,
    catheter: CatheterPoint | None = None,
    min_stenosis: float = 50.0,
) -> QCAReport:
    """QCA of every mask; bad files are skipped and reported (module docstring)."""
    out_dir = make_output_folder(out_dir)
    report = QCAReport()
    try:
        from tqdm import tqdm

        for item in tqdm(items, desc="qca", unit="mask", disable=len(items) < 2):
            try:
                mask, probability, image = _read(item)
                frame_calibration = _calibration(item, mask, probability, calibration, catheter)
                result = analyse_frame(
                    mask, probability=probability, calibration=frame_calibration, min_stenosis=min_stenosis
                )
                background = image if image is not None else mask.astype(np.float32) * 0.6
                write_frame_outputs(out_dir, item.mask.stem, result, background=background)
            except DskdError as error:
                message = str(error) if str(item.mask) in str(error) else f"{item.mask}: {error}"
                log.error("%s", message)
                report.failures.append((str(item.mask), message))
                continue
            report.done.append(str(item.mask))
            report.lesions += [{"file": item.mask.name, **row} for row in lesion_rows(result)]
    finally:
        columns = list(report.lesions[0]) if report.lesions else ["file", "lesion"]
        write_csv(out_dir / "lesions.csv", report.lesions, columns)
        (out_dir / "failed.txt").write_text("".join(f"{message}\n" for _, message in report.failures))
    return report
