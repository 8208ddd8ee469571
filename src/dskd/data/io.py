"""Reading images and masks from disk into arrays, with one-line errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dskd.errors import DataError

__all__ = ["read_image", "read_mask", "write_png", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".pgm", ".ppm", ".pbm", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")

# Above this share of pixels that are neither background nor foreground, a mask is not binary.
_MAX_INBETWEEN_FRACTION = 0.01


def _open_array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with Image.open(path) as img:
            if img.mode in ("P", "PA"):
                img = img.convert("RGBA" if img.mode == "PA" else "RGB")
            array = np.asarray(img)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable image ({error})") from None
    if array.ndim not in (2, 3) or array.size == 0:
        raise DataError(f"{path}: expected a 2-D image, got an array of shape {array.shape}")
    return array


def _to_gray(array: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) -> (H, W); colour by ITU-R BT.601 luma, alpha dropped."""
    if array.ndim == 2:
        return array
    if array.shape[2] in (3, 4):
        rgb = array[..., :3].astype(np.float64)
        return rgb @ np.array([0.299, 0.587, 0.114])
    return array[..., 0]


def read_image(path: str | Path) -> np.ndarray:
    """An image as float32 (H, W) in [0, 1]: integers divided by their type's maximum (8 or 16 bit),
    colour converted to luma, floats clipped to [0, 1]."""
    path = Path(path)
    array = _open_array(path)
    dtype = array.dtype
    gray = _to_gray(array)
    if np.issubdtype(dtype, np.integer):
        scale = float(np.iinfo(dtype).max) if dtype != np.int32 else float(max(gray.max(), 1))
        gray = gray.astype(np.float64) / scale
    elif dtype == np.bool_:
        gray = gray.astype(np.float64)
    return np.clip(gray, 0.0, 1.0).astype(np.float32)


def read_mask(path: str | Path) -> np.ndarray:
    """A binary mask as bool (H, W).

    Rule: a pixel is foreground when it is above half the mask's maximum value (so 0/1 and 0/255
    masks both work, and the few stray in-between values of JPEG-touched or resampled ground
    truths are binarised at > 127). A mask whose in-between pixels exceed 1% is not binary and is
    rejected, since it is probably a probability map or an image given by mistake.
    """
    path = Path(path)
    gray = _to_gray(_open_array(path)).astype(np.float64)
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


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Write a float [0, 1], bool or uint8 (H, W) or (H, W, 3) array as an 8-bit PNG."""
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
