"""Dataset readers: each turns a dataset root into a list of Cases. Registered by layout name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dskd.data.cases import Case
from dskd.data.io import IMAGE_SUFFIXES
from dskd.errors import DataError

__all__ = ["READERS", "read_cases", "read_folder", "list_images"]


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _natural_key(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def read_folder(root: Path) -> list[Case]:
    """Generic layout: root/images/<name>.<ext> with root/masks/<name>.<ext> (any image suffix)."""
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir():
        raise DataError(f"{root}: no images/ folder (expected images/ and masks/ with matching names)")
    images = list_images(images_dir)
    if not images:
        raise DataError(f"{images_dir}: no images found (suffixes: {', '.join(IMAGE_SUFFIXES)})")
    masks = {p.stem: p for p in list_images(masks_dir)} if masks_dir.is_dir() else {}
    cases = []
    for image in images:
        mask = masks.get(image.stem)
        if mask is None and masks_dir.is_dir():
            raise DataError(f"{image}: no mask named {image.stem}.* in {masks_dir}")
        cases.append(Case(image.stem, image, mask))
    return sorted(cases, key=lambda c: _natural_key(c.name))


READERS: dict[str, Callable[[Path], list[Case]]] = {"folder": read_folder}


def read_cases(layout: str, root: str | Path) -> list[Case]:
    """All cases of the dataset at `root` in the given layout."""
    if layout not in READERS:
        raise DataError(f"unknown dataset layout '{layout}'; valid: {', '.join(READERS)}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    return READERS[layout](root)
