"""XCAD as its authors ship it (Ma et al., ICCV 2021): test/images/<name>.png with
test/masks/<name>.png (126 labelled angiograms, 512x512) and train/ (1,621 unlabelled images, in
sub-folders).

Only the labelled images are cases (named by file stem): a supervised model must be trained,
validated and tested on splits of those 126 (splits/xcad.json). The unlabelled train/ images are
counted, not returned.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dskd.data.cases import Case
from dskd.data.io import IMAGE_SUFFIXES
from dskd.data.readers.common import by_stem, list_images, natural_key, require_dir
from dskd.errors import DataError

__all__ = ["read_xcad"]

log = logging.getLogger(__name__)


def read_xcad(root: Path) -> list[Case]:
    """The labelled cases of test/images and test/masks, in natural order of their names."""
    if not (root / "test").is_dir():
        raise DataError(f"{root}: no test/ folder (expected XCAD as shipped: test/images, "
                        "test/masks, train/)")
    images_dir = require_dir(root / "test" / "images", "XCAD labelled images")
    masks_dir = require_dir(root / "test" / "masks", "XCAD vessel masks")
    images = by_stem(list_images(images_dir), images_dir)
    masks = by_stem(list_images(masks_dir), masks_dir)
    if not images:
        raise DataError(f"{images_dir}: no images found")
    cases = []
    for stem, image in images.items():
        if stem not in masks:
            raise DataError(f"{image}: no mask named {stem}.* in {masks_dir}")
        cases.append(Case(stem, image, masks[stem]))
    if (root / "train").is_dir():
        unlabelled = sum(1 for p in (root / "train").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        log.debug("XCAD: %d unlabelled images under %s are not used", unlabelled, root / "train")
    return sorted(cases, key=lambda c: natural_key(c.name))
