"""Helpers the readers share: listing images, natural order, pairing images with masks."""

from __future__ import annotations

import re
from pathlib import Path

from dskd.data.cases import Case
from dskd.data.io import IMAGE_SUFFIXES
from dskd.errors import DataError

__all__ = ["list_images", "natural_key", "require_dir", "by_stem", "pair_with_suffix"]


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def natural_key(name: str) -> tuple:
    """Sort key that compares digit runs as numbers: "2" < "10", "training_9" < "training_10"."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", name) if part)


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{path}: folder not found ({what})")
    return path


def by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    """{stem: path}; two files with one stem (a.png and a.tif) are ambiguous and an error."""
    found: dict[str, Path] = {}
    for path in files:
        if path.stem in found:
            raise DataError(f"{folder}: two files named {path.stem}.* ({found[path.stem].name}, "
                            f"{path.name}); keep one")
        found[path.stem] = path
    return found


def pair_with_suffix(folder: Path, *, mask_suffix: str, name_prefix: str = "") -> list[Case]:
    """Images <k>.<ext> paired with masks <k><mask_suffix>.<ext> in the same folder (DCA1, CIMAT).

    Case names are name_prefix + k, in natural order. A mask without its image is an error too:
    it means a file went missing when the dataset was copied.
    """
    files = list_images(folder)
    masks = by_stem([p for p in files if p.stem.endswith(mask_suffix)], folder)
    images = by_stem([p for p in files if not p.stem.endswith(mask_suffix)], folder)
    if not images:
        raise DataError(f"{folder}: no images found (expected <k>.<ext> with <k>{mask_suffix}.<ext>)")
    cases = []
    for stem, image in images.items():
        mask = masks.get(stem + mask_suffix)
        if mask is None:
            raise DataError(f"{image}: no mask named {stem}{mask_suffix}.* in {folder}")
        cases.append(Case(name_prefix + stem, image, mask))
    orphans = sorted(set(masks) - {stem + mask_suffix for stem in images})
    if orphans:
        raise DataError(f"{folder / masks[orphans[0]].name}: mask without its image "
                        f"{orphans[0][: -len(mask_suffix)]}.*")
    return sorted(cases, key=lambda c: natural_key(c.name))
