"""DRIVE (Staal et al., IEEE TMI 2004) as its authors ship it:
<part>/images/NN_<part>.tif (565x584 RGB), <part>/1st_manual/NN_manual1.gif (vessels, 0/255) and
<part>/mask/NN_<part>_mask.gif (field of view), part = training (NN = 21..40) or test (01..20).

Case names are "NN". Every case carries its field-of-view mask, so metrics count only pixels
inside the FOV (evaluate.score_predictions). Colour becomes grayscale by the green channel by
default (the field's common practice: vessels contrast best in green); `drive:gray=luma` changes it.
Test images without a 1st_manual/ file are unlabelled (mask None).
"""

from __future__ import annotations

from pathlib import Path

from dskd.data.cases import Case
from dskd.data.readers.common import by_stem, list_images, natural_key, require_dir
from dskd.errors import DataError

__all__ = ["read_drive", "DRIVE_PARTS"]

DRIVE_PARTS = ("training", "test")


def _read_part(folder: Path, part: str) -> list[Case]:
    images = list_images(require_dir(folder / "images", f"DRIVE {part} images"))
    if not images:
        raise DataError(f"{folder / 'images'}: no images found")
    fovs = by_stem(list_images(require_dir(folder / "mask", "DRIVE field-of-view masks")),
                   folder / "mask")
    manual_dir = folder / "1st_manual"
    manuals = by_stem(list_images(manual_dir), manual_dir) if manual_dir.is_dir() else {}
    cases = []
    for image in images:
        number = image.stem.split("_")[0]
        fov = fovs.get(f"{image.stem}_mask")
        if fov is None:
            raise DataError(f"{image}: no field-of-view mask {image.stem}_mask.* in {folder / 'mask'}")
        mask = manuals.get(f"{number}_manual1")
        if mask is None and manual_dir.is_dir():
            raise DataError(f"{image}: no vessel mask {number}_manual1.* in {manual_dir}")
        cases.append(Case(number, image, mask, fov, gray="green"))
    return cases


def read_drive(root: Path) -> list[Case]:
    """training/ and test/ under root (either may be absent, not both); root may also be one of
    them (the folder that holds images/, 1st_manual/ and mask/)."""
    if (root / "images").is_dir():
        cases = _read_part(root, root.name)
    else:
        present = [p for p in DRIVE_PARTS if (root / p).is_dir()]
        if not present:
            raise DataError(f"{root}: no training/ or test/ folder (expected DRIVE as shipped: "
                            "training/images, training/1st_manual, training/mask)")
        cases = [c for part in present for c in _read_part(root / part, part)]
    return sorted(cases, key=lambda c: natural_key(c.name))
