"""Any dskd layout as an nnU-Net v2 raw dataset, so nnU-Net trains on the very split dskd uses
(`dskd data export-nnunet`; nnU-Net's documentation/dataset_format.md):

    <out>/Dataset<NNN>_<name>/
        dataset.json            channel_names {"0": "angiogram"}, labels {"background": 0,
                                "vessel": 1}, numTraining, file_ending ".png"
        imagesTr/<case>_0000.png    labelsTr/<case>.png   (labels 0/1)    the train and val parts
        imagesTs/<case>_0000.png    labelsTs/<case>.png                   the test part
        splits_final.json       one fold: train -> train, val -> val (copy it to
                                nnUNet_preprocessed/Dataset<NNN>_<name>/ to train on dskd's split)

Without a split file every labelled case goes to imagesTr and unlabelled ones to imagesTs. Images
are written as dskd reads them (grayscale by the layout's gray rule): 8-bit PNG when every value
is a multiple of 1/255 (8-bit sources, so nothing changes), 16-bit otherwise. The channel name
"angiogram" makes nnU-Net z-score each image, as dskd does. labelsTs is not part of nnU-Net's
format; it is there so that `dskd evaluate --pred <nnU-Net predictions> --labels .../labelsTs`
scores nnU-Net's test output under dskd's protocol. Field-of-view masks are not exported.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from dskd.data.cases import Case, load_case
from dskd.data.readers import parse_layout, read_cases
from dskd.data.splits import apply_split, read_split_file
from dskd.errors import DataError
from dskd.writing import make_output_folder, write_error

__all__ = ["NnunetExport", "export_nnunet", "nnunet_dataset_name"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class NnunetExport:
    folder: Path
    n_training: int
    n_test: int


def nnunet_dataset_name(dataset_id: int, name: str) -> str:
    """Dataset<NNN>_<name>; nnU-Net takes ids 1..999 and names without spaces or slashes."""
    if isinstance(dataset_id, bool) or not 1 <= dataset_id <= 999:
        raise DataError(f"--dataset-id {dataset_id}: nnU-Net dataset ids are 1..999 (e.g. 501)")
    if not _NAME.match(name):
        raise DataError(f"dataset name {name!r}: use letters, digits, '_', '-' or '.' only")
    return f"Dataset{dataset_id:03d}_{name}"


def _parts(cases: list[Case], split_file: str | Path | None) -> tuple[list[Case], list[Case], list[Case]]:
    """(train, val, test) cases; val is empty without a split file or a val part."""
    if split_file is None:
        return [c for c in cases if c.mask is not None], [], [c for c in cases if c.mask is None]
    split = read_split_file(split_file)
    if "train" not in split:
        raise DataError(f"{split_file}: no 'train' part; nnU-Net's imagesTr needs one")
    chosen = {part: apply_split(cases, split, part, source=str(split_file)) if part in split else []
              for part in ("train", "val", "test")}
    return chosen["train"], chosen["val"], chosen["test"]


def _image_array(image: np.ndarray) -> np.ndarray:
    """uint8 when the float image is exactly 8-bit (k / 255), uint16 otherwise."""
    as_8bit = np.round(image * 255)
    if np.abs(image * 255 - as_8bit).max(initial=0.0) < 1e-3:
        return as_8bit.astype(np.uint8)
    return np.round(image * 65535).astype(np.uint16)


def _write_case(case: Case, images_dir: Path, labels_dir: Path | None) -> None:
    arrays = load_case(case)
    Image.fromarray(_image_array(arrays.image)).save(images_dir / f"{case.name}_0000.png")
    if labels_dir is not None:
        if arrays.mask is None:
            raise DataError(f"case '{case.name}' has no mask; nnU-Net's labelsTr needs one")
        Image.fromarray(arrays.mask.astype(np.uint8)).save(labels_dir / f"{case.name}.png")


def _write_dataset(folder: Path, name: str, train: list[Case], val: list[Case], test: list[Case], *,
                   root: str | Path, layout: str, split_file: str | Path | None) -> None:
    """imagesTr, labelsTr, imagesTs (labelsTs), dataset.json and splits_final.json in `folder`."""
    dirs = {key: folder / key for key in ("imagesTr", "labelsTr", "imagesTs", "labelsTs")}
    for key in ("imagesTr", "labelsTr", "imagesTs"):
        dirs[key].mkdir(parents=True)
    training = train + val
    labelled_test = [c for c in test if c.mask is not None]
    if labelled_test:
        dirs["labelsTs"].mkdir()
    for case in tqdm(training, desc="imagesTr", unit="img", disable=None, leave=False):
        _write_case(case, dirs["imagesTr"], dirs["labelsTr"])
    for case in tqdm(test, desc="imagesTs", unit="img", disable=None, leave=False):
        _write_case(case, dirs["imagesTs"], dirs["labelsTs"] if case.mask is not None else None)
    meta = {"channel_names": {"0": "angiogram"}, "labels": {"background": 0, "vessel": 1},
            "numTraining": len(training), "file_ending": ".png",
            "name": name, "description": f"exported by dskd from {root} (layout {layout})"
                                         + (f", split {split_file}" if split_file else "")}
    (folder / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    if val:
        fold = [{"train": [c.name for c in train], "val": [c.name for c in val]}]
        (folder / "splits_final.json").write_text(json.dumps(fold, indent=1) + "\n")


def export_nnunet(layout: str, root: str | Path, out: str | Path, *, dataset_id: int,
                  split_file: str | Path | None = None, name: str | None = None) -> NnunetExport:
    """Write the dataset at `root` (in `layout`) as <out>/Dataset<NNN>_<name>/ (module docstring).

    name: the dataset's name in nnU-Net (default: the layout's reader name). Refuses to write into
    an existing Dataset folder, so an export is never a mix of two.
    """
    reader, _ = parse_layout(layout)
    folder = Path(out) / nnunet_dataset_name(dataset_id, name or reader)
    if folder.exists():
        raise DataError(f"{folder}: already exists; remove it or choose another --dataset-id")
    cases = read_cases(layout, root)
    for case in cases:
        if not _NAME.match(case.name):
            raise DataError(f"case name {case.name!r} cannot be an nnU-Net case identifier "
                            "(letters, digits, '_', '-', '.')")
    train, val, test = _parts(cases, split_file)
    if not train:
        raise DataError(f"{root}: no labelled cases for nnU-Net's imagesTr")
    make_output_folder(out)
    # Written aside under a hidden name and renamed when complete: a failure (a full disk, a
    # read-only folder, Ctrl-C) leaves no partial Dataset folder to block the next run.
    staging = Path(out) / f".{folder.name}.{os.getpid()}.tmp"
    try:
        _write_dataset(staging, folder.name, train, val, test, root=root, layout=layout,
                       split_file=split_file)
        os.replace(staging, folder)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise write_error(error.filename or staging, error) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("wrote %s: %d training cases (%d train + %d val), %d test cases", folder,
             len(train) + len(val), len(train), len(val), len(test))
    return NnunetExport(folder, len(train) + len(val), len(test))
