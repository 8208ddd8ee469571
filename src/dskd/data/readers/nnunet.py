"""The nnU-Net v2 raw layout for 2-D images: dataset.json, imagesTr/<case>_0000<ending>,
labelsTr/<case><ending> (Isensee et al., Nature Methods 2021; nnU-Net's dataset_format.md).

dataset.json gives `file_ending` (".png", ".tif", ...) and `labels` ({"background": 0,
"vessel": 1}). Labels are a label map, not 0/255: the one non-background label is the vessel
class; with more labels, `nnunet:foreground_label=K` says which is the foreground. The ignore label
is never foreground. Case names are nnU-Net's case identifiers. Only imagesTr/labelsTr are read
(nnU-Net's imagesTs has no labels).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from dskd.data.cases import Case
from dskd.data.readers.common import natural_key, require_dir
from dskd.errors import DataError

__all__ = ["read_nnunet", "foreground_from_labels"]

log = logging.getLogger(__name__)

_CHANNEL = "_0000"


def _load_dataset_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: file not found (an nnU-Net raw dataset has dataset.json at its root)")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object")
    return meta


def _label_values(labels: Any, source: Path) -> dict[str, int]:
    """{name: value} from v2 ({"vessel": 1}) or v1 ({"1": "vessel"}) label tables."""
    if not isinstance(labels, dict) or not labels:
        raise DataError(f"{source}: 'labels' must be an object such as {{\"background\": 0, \"vessel\": 1}}")
    if all(isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in labels.items()):
        return {name: int(value) for value, name in labels.items()}  # v1 table
    values = {}
    for name, value in labels.items():
        if isinstance(value, list):
            raise DataError(f"{source}: label '{name}' is a region ({value}); region-based labels "
                            "are not supported, give one integer per label")
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataError(f"{source}: label '{name}' must be an integer, got {value!r}")
        values[name] = value
    return values


def foreground_from_labels(labels: dict[str, int], foreground_label: int | None, source: Path) -> int:
    """The label value that is vessel: the only one besides background (and ignore), or the one chosen."""
    candidates = {name: v for name, v in labels.items() if v != 0 and name != "ignore"}
    if foreground_label is not None:
        if foreground_label not in candidates.values():
            raise DataError(f"{source}: foreground_label={foreground_label} is not a foreground label "
                            f"(labels: {labels})")
        return foreground_label
    if len(candidates) != 1:
        listing = ", ".join(f"{name}={v}" for name, v in candidates.items()) or "none"
        raise DataError(f"{source}: {len(candidates)} foreground labels ({listing}); choose one with "
                        "layout nnunet:foreground_label=K")
    return next(iter(candidates.values()))


def read_nnunet(root: Path, *, foreground_label: int | None = None) -> list[Case]:
    """Cases of imagesTr/labelsTr; root is the Dataset<ID>_<Name> folder."""
    source = root / "dataset.json"
    meta = _load_dataset_json(source)
    ending = meta.get("file_ending")
    if not isinstance(ending, str) or not ending.startswith("."):
        raise DataError(f"{source}: no 'file_ending' (e.g. \".png\"); nnU-Net v2 requires it")
    label = foreground_from_labels(_label_values(meta.get("labels"), source), foreground_label, source)
    images_dir = require_dir(root / "imagesTr", "nnU-Net training images")
    labels_dir = require_dir(root / "labelsTr", "nnU-Net training labels")
    suffix = _CHANNEL + ending
    images = sorted(p for p in images_dir.iterdir() if p.name.endswith(suffix))
    if not images:
        raise DataError(f"{images_dir}: no <case>{suffix} files")
    cases = []
    for image in images:
        case_id = image.name[: -len(suffix)]
        if (images_dir / f"{case_id}_0001{ending}").exists():
            raise DataError(f"{images_dir / f'{case_id}_0001{ending}'}: several input channels per "
                            "case; dskd models take one grayscale channel")
        mask = labels_dir / f"{case_id}{ending}"
        if not mask.is_file():
            raise DataError(f"{image}: no label file {mask.name} in {labels_dir}")
        cases.append(Case(case_id, image, mask, foreground_label=label))
    expected = meta.get("numTraining")
    if isinstance(expected, int) and expected != len(cases):
        log.warning("%s: numTraining is %d but imagesTr holds %d cases", source, expected, len(cases))
    return sorted(cases, key=lambda c: natural_key(c.name))
