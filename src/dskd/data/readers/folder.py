"""The generic layout: root/images/<name>.<ext> with root/masks/<name>.<ext>."""

from __future__ import annotations

from pathlib import Path

from dskd.data.cases import Case
from dskd.data.io import IMAGE_SUFFIXES
from dskd.data.readers.common import by_stem, list_images, natural_key
from dskd.errors import DataError

__all__ = ["read_folder"]


def read_folder(root: Path, *, mask_suffix: str = "") -> list[Case]:
    """Generic layout: root/images/<name>.<ext> with root/masks/<name><mask_suffix>.<ext>.

    Any image suffix on either side (a .jpg image may have a .png mask). Without a masks/ folder
    the images are unlabelled (mask None, fine for prediction, an error for training/evaluation).
    """
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir():
        raise DataError(f"{root}: no images/ folder (expected images/ and masks/ with matching names)")
    images = list_images(images_dir)
    if not images:
        raise DataError(f"{images_dir}: no images found (suffixes: {', '.join(IMAGE_SUFFIXES)})")
    by_stem(images, images_dir)  # rejects a.png next to a.tif
    masks = by_stem(list_images(masks_dir), masks_dir) if masks_dir.is_dir() else {}
    cases = []
    for image in images:
        mask = masks.get(image.stem + mask_suffix)
        if mask is None and masks_dir.is_dir():
            raise DataError(f"{image}: no mask named {image.stem}{mask_suffix}.* in {masks_dir}")
        cases.append(Case(image.stem, image, mask))
    return sorted(cases, key=lambda c: natural_key(c.name))
