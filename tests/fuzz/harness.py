"""The input layer under mutation: seed files of every format, mutations of their bytes, and one
call per format into the reader dskd uses for it. Shared by tests/fuzz/test_fuzz_inputs.py (a
bounded run in CI) and benchmarks/fuzz_inputs.py (the long run).

The contract every reader keeps (docs/errors.md): a file is read, or refused with a DskdError
whose message is one line that names the file. Anything else (another exception, a message of
several lines, one that does not name the file) is a finding.

Seeds are made here, deterministically, from small valid files (the corpus seeds are this code,
not generated files): images of every format dskd reads (PNG 8/16-bit, RGB, JPEG, BMP, GIF, PGM,
TIFF 8/16-bit/float and multi-page), DICOM single frame and cine, a mask, a YAML config, a split
file and an ARCADE COCO annotation file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from dskd.errors import DskdError
from tests.data.dicom_files import write_dicom

__all__ = ["FORMATS", "Format", "mutate", "check_one", "Finding"]

_RNG = np.random.default_rng(0)
_PIXELS = (_RNG.random((24, 20)) * 255).astype(np.uint8)
_MASK = (_PIXELS > 128).astype(np.uint8) * 255


def _pillow(fmt: str, array: np.ndarray = _PIXELS, mode: str | None = None) -> bytes:
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _tiff(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


def _dicom(frames: np.ndarray, **kwargs) -> bytes:
    """A DICOM seed with fixed UIDs, so that a finding's edits replay on the same bytes."""
    import tempfile

    uid = "1.2.826.0.1.3680043.8.498.1"
    with tempfile.TemporaryDirectory() as folder:
        path = write_dicom(Path(folder) / "seed.dcm", frames, SOPInstanceUID=uid, **kwargs)
        data = path.read_bytes()
    written = data[data.index(b"\x02\x00\x03\x00"):][:8]  # (0002,0003) MediaStorageSOPInstanceUID
    length = int.from_bytes(written[6:8], "little")
    start = data.index(b"\x02\x00\x03\x00") + 8
    return data[:start] + uid.encode().ljust(length, b"\0")[:length] + data[start + length:]


def _read_frames(path: Path) -> None:
    """What dskd predict (and serve) do with an input before the network: probe, every frame."""
    from dskd.data.media import iter_frames, probe

    for _ in iter_frames(probe(path)):
        pass


def _read_mask(path: Path) -> None:
    from dskd.data.io import read_mask

    read_mask(path)


def _read_config(path: Path) -> None:
    from dskd.config import load_config

    load_config(path)


def _read_split(path: Path) -> None:
    from dskd.data.splits import read_split_file

    read_split_file(path)


def _read_arcade(path: Path) -> None:
    """path is syntax/train/annotations/train.json of an otherwise valid ARCADE tree."""
    from dskd.data.readers import read_cases

    for case in read_cases("arcade", path.parents[3]):
        from dskd.data.cases import load_case

        load_case(case)


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    seed: Callable[[], bytes]
    read: Callable[[Path], None]
    place: str = ""  # sub-path the file must lie at (ARCADE), relative to a fresh folder


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("png", ".png", lambda: _pillow("PNG"), _read_frames),
    Format("png16", ".png", lambda: _pillow("PNG", _PIXELS.astype(np.uint16) * 257), _read_frames),
    Format("png_rgb", ".png", lambda: _pillow("PNG", mode="RGB"), _read_frames),
    Format("jpeg", ".jpg", lambda: _pillow("JPEG"), _read_frames),
    Format("bmp", ".bmp", lambda: _pillow("BMP"), _read_frames),
    Format("gif", ".gif", lambda: _pillow("GIF"), _read_frames),
    Format("pgm", ".pgm", lambda: _pillow("PPM"), _read_frames),
    Format("tiff", ".tif", lambda: _tiff(_PIXELS), _read_frames),
    Format("tiff16", ".tif", lambda: _tiff(_PIXELS.astype(np.uint16) * 257), _read_frames),
    Format("tiff_float", ".tif", lambda: _tiff(_PIXELS.astype(np.float32) / 255), _read_frames),
    Format("tiff_cine", ".tif", lambda: _tiff(np.stack([_PIXELS] * 3), photometric="minisblack"),
           _read_frames),
    Format("dicom", ".dcm", lambda: _dicom(_PIXELS), _read_frames),
    Format("dicom_cine", ".dcm", lambda: _dicom(np.stack([_PIXELS.astype(np.uint16) * 16] * 3),
                                               bits_stored=12, photometric="MONOCHROME1",
                                               frame_time_ms=66.7), _read_frames),
    Format("mask", ".png", lambda: _pillow("PNG", _MASK), _read_mask),
    Format("config", ".yaml", lambda: b"model:\n  width: 8\n  depth: 3\noptim:\n  epochs: 4\n  lr: 0.001\n"
                                      b"loss:\n  objective: dskd\n", _read_config),
    Format("split", ".json", lambda: json.dumps({"train": ["a", "b"], "val": ["c"], "test": ["d"]}).encode(),
           _read_split),
    Format("arcade", ".json", lambda: json.dumps({
        "images": [{"id": 1, "file_name": "1.png", "height": 24, "width": 20}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                         "segmentation": [[2, 2, 12, 2, 12, 6, 2, 6]]}],
        "categories": [{"id": 1, "name": "1"}]}).encode(), _read_arcade,
        place="syntax/train/annotations/train.json"),
]}


def mutate(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    """Apply edits (kind, position, value): 'flip' xors a byte, 'set' writes one, 'cut' truncates,
    'insert' adds a byte, 'delete' removes one; positions wrap around the data."""
    buffer = bytearray(data)
    for kind, position, value in edits:
        if not buffer and kind != "insert":
            continue
        at = position % max(len(buffer), 1)
        if kind == "flip":
            buffer[at] ^= (value % 255) + 1
        elif kind == "set":
            buffer[at] = value % 256
        elif kind == "cut":
            del buffer[at:]
        elif kind == "insert":
            buffer.insert(at, value % 256)
        elif kind == "delete":
            del buffer[at]
    return bytes(buffer)


@dataclass(frozen=True)
class Finding:
    format: str
    problem: str  # what broke the contract
    detail: str


def check_one(fmt: Format, data: bytes, folder: Path) -> Finding | None:
    """Write `data` as a file of `fmt` in `folder` and read it; None when the contract holds."""
    path = folder / (fmt.place or f"input{fmt.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt.place:  # the rest of an ARCADE tree: its images, and intact val and test parts
        for part in ("train", "val", "test"):
            images = path.parents[2] / part / "images"
            images.mkdir(parents=True, exist_ok=True)
            (images / "1.png").write_bytes(_pillow("PNG"))
            if part != "train":
                (path.parents[2] / part / "annotations").mkdir(parents=True, exist_ok=True)
                (path.parents[2] / part / "annotations" / f"{part}.json").write_bytes(fmt.seed())
    path.write_bytes(data)
    try:
        fmt.read(path)
    except DskdError as error:
        message = str(error)
        if "\n" in message.strip():
            return Finding(fmt.name, "a refusal of several lines", message[:300])
        named = str(path) in message or path.name in message or str(path.parent) in message
        if not named:
            return Finding(fmt.name, "a refusal that does not name the file", message[:300])
    except Exception as error:  # noqa: BLE001 (any other exception is the finding)
        return Finding(fmt.name, f"traceback: {type(error).__name__}", str(error)[:300])
    return None
