"""ARCADE, the MICCAI 2023 coronary challenge set (Popov et al., Scientific Data 2024), "syntax"
task, as Zenodo record 10390295 ships it:

    <root>/syntax/{train,val,test}/images/<file_name>            (1000 / 200 / 300 angiograms, 512x512)
    <root>/syntax/{train,val,test}/annotations/{train,val,test}.json   (COCO: images, annotations,
                                                                   categories = the SYNTAX segments)

`root` is the folder that holds `syntax/` (the unpacked `arcade/`), or `syntax/` itself.
Each image's vessel mask is the union of the polygons of all its segment annotations (every
category but "stenosis", which the syntax JSON lists too but which marks lesions, not segments).
Cases are named <part>_<file stem> (train_1, val_1, test_1: the stems repeat across parts).

The masks do not exist as files in ARCADE, so they are rasterised once and kept as 0/255 PNGs in
a cache keyed by the SHA-256 of the annotation file (a changed JSON gets new masks):
<part folder>/dskd_masks/<sha[:12]>/<stem>.png, or under `arcade:mask_dir=DIR` when the dataset
folder is read-only. Problems in the annotations are reported, never silently dropped: duplicate
annotation ids (all their polygons are kept in the union), images without any segment annotation
(kept, with an empty mask), annotations of images the JSON does not list, and image files the JSON
does not list, each as a warning naming the first few, plus one summary line per part.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dskd.data.cases import Case
from dskd.data.io import error_reason
from dskd.data.readers.common import list_images, natural_key, require_dir
from dskd.errors import DataError

__all__ = ["read_arcade", "rasterise_polygons", "ArcadePartSummary", "ARCADE_PARTS"]

log = logging.getLogger(__name__)

ARCADE_PARTS = ("train", "val", "test")
_NOT_A_SEGMENT = "stenosis"
_SHOWN = 5  # ids or names listed in a warning


@dataclass
class ArcadePartSummary:
    """What one part's annotation file held (logged once per read)."""

    part: str
    n_images: int = 0
    n_annotations: int = 0
    n_polygons: int = 0
    duplicate_ids: list[int] = field(default_factory=list)
    unannotated: list[str] = field(default_factory=list)  # file names
    orphan_annotations: int = 0  # annotations of an image id the JSON does not list
    unlisted_files: list[str] = field(default_factory=list)  # image files the JSON does not list
    not_segments: int = 0  # "stenosis" annotations, left out of the vessel mask

    def line(self) -> str:
        return (f"ARCADE {self.part}: {self.n_images} images, {self.n_annotations} segment "
                f"annotations ({self.n_polygons} polygons); {len(self.duplicate_ids)} duplicate "
                f"annotation ids, {len(self.unannotated)} images without annotations, "
                f"{self.orphan_annotations} annotations of unlisted images, "
                f"{len(self.unlisted_files)} unlisted image files, {self.not_segments} stenosis "
                "annotations left out")


def rasterise_polygons(segmentations: list[Any], height: int, width: int) -> np.ndarray:
    """bool (H, W): the union of COCO segmentations (lists of [x1, y1, x2, y2, ...] polygons, or
    RLE dicts) of one image.

    pycocotools rasterises them: it is the COCO reference implementation (COCO.annToMask), the one
    the ARCADE baseline and most published ARCADE loaders use, so these masks match theirs pixel
    for pixel; scikit-image's polygon fill differs from it along the polygon edges.
    """
    from pycocotools import mask as coco_mask

    union = np.zeros((height, width), dtype=bool)
    with warnings.catch_warnings():
        # pycocotools 2.0.x warns about numpy 2's copy keyword on every decode.
        warnings.simplefilter("ignore", DeprecationWarning)
        for segmentation in segmentations:
            union |= _decode(coco_mask, segmentation, height, width)
    return union


def _decode(coco_mask: Any, segmentation: Any, height: int, width: int) -> np.ndarray:
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if len(p) >= 6]  # 3+ points; COCO skips shorter
        if not polygons:
            return np.zeros((height, width), dtype=bool)
        rles = coco_mask.frPyObjects(polygons, height, width)
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        rles = [coco_mask.frPyObjects(segmentation, height, width)]  # uncompressed RLE
    else:
        rles = [segmentation]
    return coco_mask.decode(coco_mask.merge(rles)).astype(bool)


def _syntax_folder(root: Path) -> Path:
    if (root / "syntax").is_dir():
        return root / "syntax"
    if (root / "train" / "annotations").is_dir():
        return root
    raise DataError(f"{root}: no syntax/ folder (expected ARCADE as shipped: syntax/train/images, "
                    "syntax/train/annotations/train.json, and val/, test/ alike)")


def _load_coco(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    try:
        coco = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error_reason(error)})") from None
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list) \
            or not isinstance(coco.get("annotations"), list):
        raise DataError(f"{path}: not a COCO annotation file (needs 'images' and 'annotations' lists)")
    return coco


def _listed_images(coco: dict[str, Any], source: Path) -> dict[int, dict[str, Any]]:
    images: dict[int, dict[str, Any]] = {}
    names: set[str] = set()
    for entry in coco["images"]:
        try:
            image_id, name = entry["id"], str(entry["file_name"])
            int(entry["height"]), int(entry["width"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{source}: image entry {entry!r:.80} lacks id, file_name, height or "
                            "width") from None
        if image_id in images or name in names:
            raise DataError(f"{source}: image id {image_id} / file {name} is listed twice")
        images[image_id] = entry
        names.add(name)
    return images


def _warn(source: Path, what: str, items: list) -> None:
    if items:
        shown = ", ".join(str(i) for i in items[:_SHOWN]) + (", ..." if len(items) > _SHOWN else "")
        log.warning("%s: %d %s (%s)", source, len(items), what, shown)


def _read_part(syntax: Path, part: str, mask_root: Path | None) -> tuple[list[Case], ArcadePartSummary]:
    folder = require_dir(syntax / part, f"ARCADE syntax {part} part")
    images_dir = require_dir(folder / "images", f"ARCADE {part} images")
    source = folder / "annotations" / f"{part}.json"
    coco = _load_coco(source)
    images = _listed_images(coco, source)
    not_segment_ids = {c.get("id") for c in coco.get("categories", [])
                       if str(c.get("name", "")).strip().lower() == _NOT_A_SEGMENT}
    summary = ArcadePartSummary(part, n_images=len(images))
    ids = Counter(a.get("id") for a in coco["annotations"])
    summary.duplicate_ids = sorted((i for i, n in ids.items() if n > 1), key=str)
    polygons: dict[int, list[Any]] = {image_id: [] for image_id in images}
    for annotation in coco["annotations"]:
        if annotation.get("category_id") in not_segment_ids:
            summary.not_segments += 1
            continue
        image_id = annotation.get("image_id")
        if image_id not in polygons:
            summary.orphan_annotations += 1
            continue
        segmentation = annotation.get("segmentation")
        if segmentation:
            polygons[image_id].append(segmentation)
            summary.n_annotations += 1
            summary.n_polygons += len(segmentation) if isinstance(segmentation, list) else 1
    summary.unannotated = [images[i]["file_name"] for i, segs in polygons.items() if not segs]
    listed = {str(entry["file_name"]) for entry in images.values()}
    summary.unlisted_files = [p.name for p in list_images(images_dir) if p.name not in listed]
    _warn(source, "duplicate annotation ids; all their polygons are kept in the mask",
          summary.duplicate_ids)
    _warn(source, "images without any segment annotation; kept, with an empty mask",
          summary.unannotated)
    if summary.orphan_annotations:
        log.warning("%s: %d annotations name an image id that 'images' does not list; not used",
                    source, summary.orphan_annotations)
    _warn(images_dir, "image files that the annotation file does not list; not used",
          summary.unlisted_files)

    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    cache = (mask_root / part if mask_root is not None else folder / "dskd_masks") / digest
    cases = []
    for image_id, entry in images.items():
        image = images_dir / entry["file_name"]
        if not image.is_file():
            raise DataError(f"{image}: image listed in {source.name} not found")
        _check_size(image, entry, source)
        mask = cache / f"{Path(entry['file_name']).stem}.png"
        if not mask.is_file():
            try:
                rasterised = rasterise_polygons(polygons[image_id], int(entry["height"]), int(entry["width"]))
            except (ValueError, TypeError, OverflowError) as error:  # pycocotools on damaged polygons
                raise DataError(f"{source}: the segments of {entry['file_name']} cannot be drawn "
                                f"({error_reason(error)})") from None
            _write_mask(mask, rasterised)
        cases.append(Case(f"{part}_{Path(entry['file_name']).stem}", image, mask))
    log.info("%s", summary.line())
    return cases, summary


def _check_size(image: Path, entry: dict[str, Any], source: Path) -> None:
    """The image's size as the annotation file states it (polygons are drawn at that size)."""
    try:
        with Image.open(image) as opened:
            width, height = opened.size
    except Exception as error:  # noqa: BLE001 (damaged files: many exception types)
        raise DataError(f"{image}: unreadable image ({error_reason(error, image)})") from None
    if (int(entry["height"]), int(entry["width"])) != (height, width):
        raise DataError(f"{source}: {entry['file_name']} is listed as {entry['width']}x{entry['height']}, "
                        f"the file is {width}x{height}")


def _write_mask(path: Path, mask: np.ndarray) -> None:
    """Under a temporary name, then renamed: an interrupted read leaves no half-written mask."""
    partial = path.with_name(f".{path.name}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask.astype(np.uint8) * 255).save(partial, format="PNG")
    except OSError as error:
        raise DataError(f"{path.parent}: cannot write the rasterised ARCADE masks ({error.strerror}); "
                        "give a writable folder with layout arcade:mask_dir=DIR") from None
    os.replace(partial, path)


def read_arcade(root: Path, *, mask_dir: str | None = None) -> list[Case]:
    """Cases of the syntax task's train, val and test parts (see the module docstring)."""
    syntax = _syntax_folder(root)
    cases: list[Case] = []
    for part in ARCADE_PARTS:
        part_cases, _ = _read_part(syntax, part, Path(mask_dir) if mask_dir else None)
        cases.extend(part_cases)
    return sorted(cases, key=lambda c: natural_key(c.name))
