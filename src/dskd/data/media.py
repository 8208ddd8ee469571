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
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from dskd.data.dicom import (
    DICOM_SUFFIXES,
    check_decoder,
    dicom_fps,
    dicom_frames,
    read_dicom_header,
)
from dskd.data.io import IMAGE_SUFFIXES, GrayRule, error_reason, read_image, to_unit_gray
from dskd.errors import DataError

__all__ = [
    "MediaInfo",
    "MEDIA_SUFFIXES",
    "DICOM_SUFFIXES",
    "is_dicom",
    "is_media_file",
    "probe",
    "iter_frames",
]

TIFF_SUFFIXES = (".tif", ".tiff")
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


def _probe_dicom(path: Path) -> MediaInfo:
    ds = read_dicom_header(path)
    check_decoder(path, ds)
    sizes = {}
    for key, default in (("NumberOfFrames", 1), ("Rows", None), ("Columns", None)):
        value = ds.get(key, default) or default
        try:
            sizes[key] = int(value)  # a damaged header holds lists, empty strings, text
        except (TypeError, ValueError):
            raise DataError(f"{path}: invalid {key} {value!r:.40}") from None
        if sizes[key] < 1:
            raise DataError(f"{path}: invalid {key} {sizes[key]}")
    return MediaInfo(path, "dicom", sizes["NumberOfFrames"], sizes["Rows"], sizes["Columns"], dicom_fps(ds))



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
            height, width = int(shape[0]), int(shape[1])
    except Exception as error:  # TiffFileError, struct.error, ValueError, damaged shapes
        raise DataError(f"{path}: unreadable TIFF ({error_reason(error)})") from None
    finally:
        tiff_log.removeFilter(warnings)
    if warnings.messages:
        reason = warnings.messages[0].split("> ", 1)[-1]  # drop tifffile's "<tifffile.TiffPages @8>"
        raise DataError(f"{path}: damaged TIFF ({reason}); the file may be truncated")
    return MediaInfo(path, "tiff", n_frames, height, width)


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
        raise DataError(f"{path}: unreadable image ({error_reason(error, path)})") from None
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
    frames = (dicom_frames(info.path, gray) if info.kind == "dicom"
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
            raise DataError(f"{info.path}: cannot decode {where} ({error_reason(error)})") from None
        if frame.shape != (info.height, info.width):
            raise DataError(f"{info.path}: frame {index + 1} is {frame.shape[0]}x{frame.shape[1]}, "
                            f"the first is {info.height}x{info.width}; frames of a run must share a size")
        yield frame
        index += 1
