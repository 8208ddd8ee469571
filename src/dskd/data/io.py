"""Reading images and masks from disk into arrays, with one-line errors that name the file.

Conversion rules (docs/datasets.md repeats them):
- images become float32 (H, W) in [0, 1]: integers are divided by their type's maximum (255 for
  8-bit, 65535 for 16-bit), colour becomes grayscale by ITU-R BT.601 luma (`gray="luma"`, the
  default) or by keeping the green channel (`gray="green"`, the usual choice for retinal images,
  where vessels contrast best in green), an alpha channel is dropped;
- binary masks: foreground is above half the mask's maximum (0/1 and 0/255 both work); a mask with
  more than 1% of in-between values is rejected as not binary;
- label maps (nnU-Net): foreground is the pixels equal to one label value;
- NaN and infinite pixels (float TIFFs) are refused, in images and masks alike: one of them would
  turn a whole standardised image into NaN, and so its mask empty; dskd does not guess a value.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from dskd.errors import DataError
from dskd.writing import atomic_path

__all__ = [
    "error_reason",
    "read_image",
    "read_mask",
    "to_unit_gray",
    "color_to_gray",
    "write_png",
    "IMAGE_SUFFIXES",
    "GRAY_RULES",
    "GrayRule",
]

IMAGE_SUFFIXES = (".png", ".pgm", ".ppm", ".pbm", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")

GrayRule = Literal["luma", "green"]
GRAY_RULES: tuple[str, ...] = ("luma", "green")

# Above this share of pixels that are neither background nor foreground, a mask is not binary.
_MAX_INBETWEEN_FRACTION = 0.01


def _open_tiff(path: Path) -> np.ndarray:
    # Pillow cannot open 16-bit colour or multi-sample TIFFs; tifffile (a dependency) can.
    import tifffile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a corrupt file also warns; the error below says it
            array = np.asarray(tifffile.imread(path))
    except Exception as error:  # tifffile raises many types for a corrupt file
        raise DataError(f"{path}: unreadable image ({error})") from None
    if array.size == 0:
        raise DataError(f"{path}: unreadable image (no pixel data)")
    return array


def error_reason(error: BaseException, path: str | Path | None = None) -> str:
    """The first line of an exception's message (or its type's name), without the file's path:
    libraries name the file in their messages too, and dskd's line names it once, at its start."""
    text = str(error).strip()
    text = text.splitlines()[0] if text else type(error).__name__
    if path is not None:
        text = text.replace(f" '{path}'", "").replace(f' "{path}"', "").replace(f" {path}", "")
    return text


def _open_array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with Image.open(path) as img:
            if img.mode in ("P", "PA"):
                img = img.convert("RGBA" if img.mode == "PA" else "RGB")
            array = np.asarray(img)
    # Pillow raises SyntaxError for a broken PNG chunk, found only when the pixels are read.
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise DataError(f"{path}: unreadable image ({error_reason(error, path)})") from None
        array = _open_tiff(path)
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] not in (3, 4):
        array = np.moveaxis(array, 0, -1)  # planar (C, H, W) TIFF -> (H, W, C)
    if array.ndim not in (2, 3) or array.size == 0:
        raise DataError(f"{path}: expected a 2-D image, got an array of shape {array.shape}")
    return array


def _check_finite(array: np.ndarray) -> None:
    if np.issubdtype(array.dtype, np.floating):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise DataError(f"{bad} of {array.size} pixels are NaN or infinite; fix the image (dskd "
                            "does not guess their values)")


def color_to_gray(array: np.ndarray, rule: GrayRule = "luma") -> np.ndarray:
    """(H, W) or (H, W, C) -> (H, W); colour by BT.601 luma or the green channel, alpha dropped."""
    if array.ndim == 2:
        return array
    if array.shape[2] in (3, 4):
        if rule == "green":
            return array[..., 1]
        rgb = array[..., :3].astype(np.float64)
        return rgb @ np.array([0.299, 0.587, 0.114])
    return array[..., 0]


def to_unit_gray(array: np.ndarray, *, gray: GrayRule = "luma") -> np.ndarray:
    """float32 (H, W) in [0, 1] from an (H, W), (H, W, C) or planar (C, H, W) pixel array:
    integers divided by their type's maximum (8 or 16 bit), colour converted by `gray` ("luma" or
    "green"), floats clipped to [0, 1]. The rule of every image dskd reads, files and frames alike.
    """
    if gray not in GRAY_RULES:
        raise DataError(f"gray={gray!r} is not a conversion rule; valid: {', '.join(GRAY_RULES)}")
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] not in (3, 4):
        array = np.moveaxis(array, 0, -1)  # planar (C, H, W) -> (H, W, C)
    if array.ndim not in (2, 3) or array.size == 0:
        raise DataError(f"expected a 2-D image, got an array of shape {array.shape}")
    dtype = array.dtype
    _check_finite(array)
    gray_array = color_to_gray(array, gray)
    if np.issubdtype(dtype, np.integer):
        if dtype in (np.int32, np.uint32, np.int64, np.uint64):
            # 32-bit integer images (Pillow mode "I") have no conventional full scale.
            scale = float(max(gray_array.max(), 1))
        else:
            scale = float(np.iinfo(dtype).max)
        gray_array = gray_array.astype(np.float64) / scale
    elif dtype == np.bool_:
        gray_array = gray_array.astype(np.float64)
    return np.clip(gray_array, 0.0, 1.0).astype(np.float32)


def read_image(path: str | Path, *, gray: GrayRule = "luma") -> np.ndarray:
    """An image file as float32 (H, W) in [0, 1], by the rule of `to_unit_gray`."""
    path = Path(path)
    array = _open_array(path)
    try:
        return to_unit_gray(array, gray=gray)
    except DataError as error:
        raise DataError(f"{path}: {error}") from None


def _read_label_map(path: Path, foreground_label: int) -> np.ndarray:
    array = _open_array(path)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{path}: a label map must be a single-channel integer image, got "
                        f"{array.dtype} of shape {array.shape}")
    top = int(array.max())
    # nnU-Net labels are consecutive integers 0..K-1; a 0/255 file is a binary mask given by mistake.
    if top == 255 and foreground_label != 255:
        raise DataError(f"{path}: values go up to 255, which looks like a 0/255 binary mask, not a "
                        f"label map with foreground label {foreground_label}; store labels as 0..K-1")
    return array == foreground_label


def read_mask(path: str | Path, *, foreground_label: int | None = None) -> np.ndarray:
    """A binary mask as bool (H, W).

    Rule (foreground_label None): a pixel is foreground when it is above half the mask's maximum
    value (so 0/1 and 0/255 masks both work, and the few stray in-between values of JPEG-touched or
    resampled ground truths are binarised at > 127). A mask whose in-between pixels exceed 1% is
    rejected, since it is probably a probability map or an image given by mistake.
    With foreground_label k the file is a label map and foreground is exactly the pixels equal to k.
    """
    path = Path(path)
    if foreground_label is not None:
        return _read_label_map(path, foreground_label)
    array = _open_array(path)
    try:
        _check_finite(array)
    except DataError as error:
        raise DataError(f"{path}: {error}") from None
    gray = color_to_gray(array).astype(np.float64)
    top = gray.max()
    if top <= 0:
        return np.zeros(gray.shape, dtype=bool)
    inbetween = np.mean((gray > 0) & (gray < top))
    if inbetween > _MAX_INBETWEEN_FRACTION:
        raise DataError(
            f"{path}: mask is not binary ({inbetween:.1%} of pixels lie between 0 and {top:g}); "
            "expected 0/1 or 0/255 values"
        )
    return gray > top / 2


def write_png(path: str | Path, array: np.ndarray, *, atomic: bool = True) -> None:
    """Write a float [0, 1], bool or uint8 (H, W) or (H, W, 3) array as an 8-bit PNG.

    atomic: whole or not at all (a temporary file renamed; DskdError naming the file when it
    cannot be written). False writes `path` itself and lets OSError through, for a caller that
    already writes to a temporary name of its own.
    """
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not atomic:
        Image.fromarray(array).save(path, format="PNG")
        return
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
