"""A case is one image with its mask (and optional field-of-view mask), as paths or as arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dskd.data.io import GrayRule, read_image, read_mask
from dskd.errors import DataError

__all__ = ["Case", "CaseArrays", "load_case"]


@dataclass(frozen=True)
class Case:
    name: str
    image: Path
    mask: Path | None = None  # None for unlabeled images
    fov: Path | None = None  # field-of-view mask; metrics count only pixels inside it
    gray: GrayRule = "luma"  # how a colour image becomes grayscale (io.read_image)
    foreground_label: int | None = None  # mask is a label map: this value is foreground (nnU-Net)


@dataclass(frozen=True)
class CaseArrays:
    """image: float32 (H, W) in [0, 1]; mask, fov: bool (H, W) or None."""

    name: str
    image: np.ndarray
    mask: np.ndarray | None
    fov: np.ndarray | None


def load_case(case: Case) -> CaseArrays:
    image = read_image(case.image, gray=case.gray)
    mask = (read_mask(case.mask, foreground_label=case.foreground_label)
            if case.mask is not None else None)
    fov = read_mask(case.fov) if case.fov is not None else None
    for other, path in ((mask, case.mask), (fov, case.fov)):
        if other is not None and other.shape != image.shape:
            raise DataError(
                f"{path}: size {other.shape[1]}x{other.shape[0]} does not match its image "
                f"{case.image} ({image.shape[1]}x{image.shape[0]})"
            )
    return CaseArrays(case.name, image, mask, fov)

