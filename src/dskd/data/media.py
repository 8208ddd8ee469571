"""Frames from image files and DICOM, read one at a time so a long cine run never sits in memory.

    info = probe("run1.dcm")             # header only: kind, frame count, size, frame rate
    for frame in iter_frames(info):      # float32 (H, W) in [0, 1], one frame at a time
        ...

Kinds:
- `image`: PNG, JPEG, PGM/PPM/PBM, BMP, GIF (first frame) through `dskd.data.io.read_image`;
- `tiff`: TIFF, every page a frame (tifffile, page by page);
- `dicom`: single- and multi-frame DICOM, 8 to 16 bit, through pydicom's `iter_pixels`, which reads
  one frame at a time from the file. The modality transform (rescale slope/intercept or modality
  LUT) and the VOI transform (window or VOI LUT) are applied, then the VOI output range is mapped
  to [0, 1] and MONOCHROME1 is inverted, so vessels are dark in every frame we hand on.

Decoders raise many exception types for damaged files; every one of them becomes a DataError
that names the file (and the frame), so a caller can report it and go on with the next file.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dskd.data.io import IMAGE_SUFFIXES, GrayRule, color_to_gray, read_image, to_unit_gray
from dskd.errors import DataError

__all__ = [
    "MediaInfo",
    "MEDIA_SUFFIXES",
    "DICOM_SUFFIXES",
    "is_dicom",
    "is_media_file",
    "probe",
    "iter_frames",
    "DicomSpacing",
    "dicom_pixel_spacing",
]

TIFF_SUFFIXES = (".tif", ".tiff")
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
MEDIA_SUFFIXES = tuple(IMAGE_SUFFIXES) + DICOM_SUFFIXES


@dataclass(frozen=True)
class MediaInfo:
    """What the header of a file says. fps: the acquisition frame rate when a DICOM states it."""

    path: Path
    kind: Literal["image", "tiff", "dicom"]
    n_frames: int
    height: int
    width: int
    fps: float | None = None


def is_dicom(path: str | Path) -> bool:
    """A DICOM suffix, or any other name that is not an image's and the 'DICM' mark at byte 128:
    files from PACS exports and DICOMDIR trees are named IM000001 or by their UID (1.2.840...)."""
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if path.suffix.lower() in IMAGE_SUFFIXES or not path.is_file() or path.name.upper() == "DICOMDIR":
        return False
    with open(path, "rb") as handle:
        head = handle.read(132)
    return head[128:132] == b"DICM"


def is_media_file(path: str | Path) -> bool:
    path = Path(path)
    return path.suffix.lower() in MEDIA_SUFFIXES or is_dicom(path)


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ----------------------------------------------------------------------------------------- DICOM

def _read_dicom_header(path: Path) -> Any:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as error:  # InvalidDicomError, EOFError, struct/ValueError on damaged files
        # pydicom's own advice (force=True) is for its API, not for dskd's users
        reason = _reason(error).replace(" Use force=True to force reading.", "")
        raise DataError(f"{path}: not a readable DICOM file ({reason})") from None
    if "Rows" not in ds or "Columns" not in ds:
        raise DataError(f"{path}: DICOM file holds no image (no Rows/Columns)")
    _lift_functional_groups(ds)
    return ds


def _lift_functional_groups(ds: Any) -> None:
    """Enhanced multi-frame objects keep rescale and window inside functional groups; copy the
    shared ones (else those of frame 1) to the top level, where pydicom's transforms look.

    Per-frame differences are not followed: each frame is z-scored before the network anyway, so
    a window only matters through what it clips.
    """
    groups = ds.get("SharedFunctionalGroupsSequence") or ds.get("PerFrameFunctionalGroupsSequence")
    if not groups:
        return
    for sequence, keys in (("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept")),
                           ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "VOILUTFunction"))):
        items = groups[0].get(sequence)
        if not items:
            continue
        for key in keys:
            if key in items[0] and key not in ds:
                setattr(ds, key, items[0][key].value)


def _dicom_fps(ds: Any) -> float | None:
    """Cine Rate, else 1000 / Frame Time (ms), else Recommended Display Frame Rate."""
    for key, convert in (("CineRate", float), ("FrameTime", lambda ms: 1000.0 / float(ms)),
                         ("RecommendedDisplayFrameRate", float)):
        try:
            value = convert(ds[key].value) if key in ds and ds[key].value not in (None, "") else None
        except (TypeError, ValueError, ZeroDivisionError):
            value = None
        if value is not None and math.isfinite(value) and value > 0:
            return value
    return None


def _dicom_output_range(ds: Any) -> tuple[float, float]:
    """The range of values after the modality and VOI transforms, mapped to [0, 1] afterwards.

    A VOI LUT gives 0 .. 2**bits - 1 of its descriptor; windowing maps into the modality output
    range (PS3.3 C.11.2.1.2), which is also the range when there is no VOI transform at all.
    """
    voi = ds.get("VOILUTSequence")
    if voi:
        return 0.0, float(2 ** int(voi[0].LUTDescriptor[2]) - 1)
    modality = ds.get("ModalityLUTSequence")
    if modality:
        return 0.0, float(2 ** int(modality[0].LUTDescriptor[2]) - 1)
    bits = int(ds.BitsStored)
    signed = bool(ds.get("PixelRepresentation", 0))
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    ends = sorted((low * slope + intercept, high * slope + intercept))
    return float(ends[0]), float(ends[1])


def _dicom_frames(path: Path, gray: GrayRule) -> Iterator[np.ndarray]:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut, iter_pixels

    ds = _read_dicom_header(path)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    monochrome = photometric.startswith("MONOCHROME")
    low, high = _dicom_output_range(ds) if monochrome else (0.0, float(2 ** int(ds.BitsStored) - 1))
    span = max(high - low, 1e-12)
    # iter_pixels given a path reads the file frame by frame: memory does not grow with the run.
    for raw in iter_pixels(path):
        if monochrome:
            values = apply_voi_lut(apply_modality_lut(raw, ds), ds, prefer_lut=True)
        else:  # RGB (YBR is converted by iter_pixels): the stored values by the gray rule
            values = color_to_gray(raw, gray)
        unit = (np.asarray(values, dtype=np.float64) - low) / span
        if not np.isfinite(unit).all():  # a slope, intercept or window of NaN or infinity
            raise DataError("pixel values are NaN or infinite after the modality and VOI transforms; "
                            "check Rescale Slope/Intercept and Window Center/Width")
        unit = np.clip(unit, 0.0, 1.0)
        if photometric == "MONOCHROME1":  # 0 is white: invert so every frame shows vessels dark
            unit = 1.0 - unit
        yield unit.astype(np.float32)


def _check_decoder(path: Path, ds: Any) -> None:
    """Fail at once, with the fix, for compressed pixel data that no installed plugin decodes
    (cath-lab runs are often JPEG Lossless, which needs python-gdcm or pylibjpeg)."""
    from pydicom.pixels import get_decoder

    uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if uid is None:
        return
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise DataError(f"{path}: pixel data stored as '{uid.name}', which pydicom cannot decode") from None
    if not decoder.is_available:
        raise DataError(f"{path}: pixel data compressed as '{uid.name}' and no decoder is installed; "
                        "pip install 'dskd[dicom]' (python-gdcm)")


def _probe_dicom(path: Path) -> MediaInfo:
    ds = _read_dicom_header(path)
    _check_decoder(path, ds)
    try:
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        raise DataError(f"{path}: invalid NumberOfFrames {ds.NumberOfFrames!r}") from None
    return MediaInfo(path, "dicom", n_frames, int(ds.Rows), int(ds.Columns), _dicom_fps(ds))


@dataclass(frozen=True)
class DicomSpacing:
    """(row, column) pixel spacing in mm and the attributes it came from."""

    row_mm: float
    col_mm: float
    source: str

    @property
    def spacing(self) -> tuple[float, float]:
        return self.row_mm, self.col_mm


def _pair(ds: Any, key: str) -> tuple[float, float] | None:
    value = ds.get(key)
    try:
        row, col = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (row, col) if all(math.isfinite(v) and v > 0 for v in (row, col)) else None


def _positive(ds: Any, key: str) -> float | None:
    try:
        value = float(ds.get(key))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def dicom_pixel_spacing(path: str | Path) -> DicomSpacing | None:
    """The pixel spacing of a DICOM image in the patient (at the isocentre), or None if the file
    states none. In order of preference (PS3.3 10.7.1.3):

    1. PixelSpacing (also from an enhanced object's Pixel Measures): already calibrated in the
       patient, by geometry or a fiducial (PixelSpacingCalibrationType says which);
    2. ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor;
    3. ImagerPixelSpacing x DistanceSourceToPatient / DistanceSourceToDetector (XA: the source to
       isocentre and source to detector distances, i.e. the magnification at the isocentre);
    4. ImagerPixelSpacing alone: the detector plane, larger than the patient by the magnification
       (source says "uncorrected").
    """
    ds = _read_dicom_header(Path(path))
    groups = ds.get("SharedFunctionalGroupsSequence") or ds.get("PerFrameFunctionalGroupsSequence")
    measures = groups[0].get("PixelMeasuresSequence") if groups else None
    spacing = _pair(ds, "PixelSpacing") or (_pair(measures[0], "PixelSpacing") if measures else None)
    if spacing is not None:
        calibration = ds.get("PixelSpacingCalibrationType")
        return DicomSpacing(*spacing, "PixelSpacing" + (f" ({calibration})" if calibration else ""))
    imager = _pair(ds, "ImagerPixelSpacing")
    if imager is None:
        return None
    magnification = _positive(ds, "EstimatedRadiographicMagnificationFactor")
    if magnification is not None:
        return DicomSpacing(imager[0] / magnification, imager[1] / magnification,
                            "ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor")
    sod, sid = _positive(ds, "DistanceSourceToPatient"), _positive(ds, "DistanceSourceToDetector")
    if sod is not None and sid is not None:
        return DicomSpacing(imager[0] * sod / sid, imager[1] * sod / sid,
                            "ImagerPixelSpacing x DistanceSourceToPatient / DistanceSourceToDetector")
    return DicomSpacing(*imager, "ImagerPixelSpacing (detector plane, uncorrected for magnification)")


# ------------------------------------------------------------------------------------------ TIFF

class _Collect(logging.Filter):
    """Takes what a library logs from this thread (warning or worse) while it reads one file: the
    reason goes into our one error line, instead of a second line of the library's own."""

    def __init__(self) -> None:
        super().__init__()
        self.thread, self.messages = threading.get_ident(), []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread or record.levelno < logging.WARNING:
            return True
        self.messages.append(record.getMessage())
        return False


def _probe_tiff(path: Path) -> MediaInfo:
    import tifffile

    # tifffile only logs a broken chain of pages (a truncated cine) and stops counting there:
    # counted as is, a cut run would pass as a shorter one.
    warnings = _Collect()
    tiff_log = logging.getLogger("tifffile")
    tiff_log.addFilter(warnings)
    try:
        with tifffile.TiffFile(path) as tif:
            first = tif.pages.first
            n_frames = len(tif.pages)
            shape = first.shape if first.planarconfig != 2 else first.shape[1:]  # 2: separate planes
    except Exception as error:  # TiffFileError, struct.error, ValueError on damaged files
        raise DataError(f"{path}: unreadable TIFF ({_reason(error)})") from None
    finally:
        tiff_log.removeFilter(warnings)
    if warnings.messages:
        reason = warnings.messages[0].split("> ", 1)[-1]  # drop tifffile's "<tifffile.TiffPages @8>"
        raise DataError(f"{path}: damaged TIFF ({reason}); the file may be truncated")
    return MediaInfo(path, "tiff", n_frames, int(shape[0]), int(shape[1]))


def _tiff_frames(path: Path, gray: GrayRule) -> Iterator[np.ndarray]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        tif.pages.cache = False  # keep no page objects behind us: thousands of pages stay cheap
        for index in range(len(tif.pages)):
            yield to_unit_gray(tif.pages[index].asarray(), gray=gray)


# ----------------------------------------------------------------------------------------- other

def _probe_image(path: Path) -> MediaInfo:
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = img.size
    except Exception as error:  # UnidentifiedImageError, OSError, SyntaxError (bad PPM header)
        raise DataError(f"{path}: unreadable image ({_reason(error)})") from None
    return MediaInfo(path, "image", 1, height, width)


def probe(path: str | Path) -> MediaInfo:
    """Read a file's header only (no pixels). Raises DataError naming the file if it is missing,
    of an unknown type or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if is_dicom(path):
        return _probe_dicom(path)
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return _probe_tiff(path)
    if suffix in IMAGE_SUFFIXES:
        return _probe_image(path)
    raise DataError(f"{path}: unknown file type '{suffix}'; expected one of {', '.join(MEDIA_SUFFIXES)}"
                    " or a DICOM file")


def iter_frames(info: MediaInfo, *, gray: GrayRule = "luma") -> Iterator[np.ndarray]:
    """The frames of a probed file, float32 (H, W) in [0, 1], read one at a time; colour frames
    converted by `gray` (the rule the model was trained with: dskd.data.readers.gray_rule).

    Raises DataError naming the file and frame when a frame cannot be decoded or does not have
    the size the header announced.
    """
    if info.kind == "image":
        yield read_image(info.path, gray=gray)
        return
    frames = (_dicom_frames(info.path, gray) if info.kind == "dicom"
              else _tiff_frames(info.path, gray))
    index = 0
    while True:
        where = f"frame {index + 1} of {info.n_frames}" if info.n_frames > 1 else "pixel data"
        try:
            frame = next(frames)
        except StopIteration:
            break
        except DataError as error:
            if str(error).startswith(f"{info.path}: "):
                raise
            frame = f"frame {index + 1} of {info.n_frames}: " if info.n_frames > 1 else ""
            raise DataError(f"{info.path}: {frame}{error}") from None
        except Exception as error:  # decoder errors: truncated data, missing codec, bad tags
            raise DataError(f"{info.path}: cannot decode {where} ({_reason(error)})") from None
        if frame.shape != (info.height, info.width):
            raise DataError(f"{info.path}: frame {index + 1} is {frame.shape[0]}x{frame.shape[1]}, "
                            f"the first is {info.height}x{info.width}; frames of a run must share a size")
        yield frame
        index += 1
