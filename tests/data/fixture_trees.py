"""Tiny dataset trees in each layout, built by the tests (8x8 images, a diagonal 'vessel')."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 8


def image(seed: int = 0, *, rgb: bool = False) -> np.ndarray:
    values = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3) if rgb else (SIZE, SIZE))
    return values.astype(np.uint8)


def vessel(values: tuple[int, int] = (0, 255)) -> np.ndarray:
    mask = np.full((SIZE, SIZE), values[0], np.uint8)
    mask[np.arange(SIZE), np.arange(SIZE)] = values[1]
    return mask


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_folder(root: Path, names: list[str], *, masks: bool = True) -> Path:
    for i, name in enumerate(names):
        save(root / "images" / f"{name}.png", image(i))
        if masks:
            save(root / "masks" / f"{name}.png", vessel())
    return root


def make_dca1(folder: Path, ks: range | list[int]) -> Path:
    """folder/<k>.pgm and <k>_gt.pgm (folder is Database_134_Angiograms itself)."""
    for k in ks:
        save(folder / f"{k}.pgm", image(k))
        save(folder / f"{k}_gt.pgm", vessel())
    return folder


def make_cimat(root: Path, n_training: int, n_testing: int) -> Path:
    for part, n in (("training", n_training), ("testing", n_testing)):
        for k in range(1, n + 1):
            save(root / part / f"{k}.png", image(k + (100 if part == "testing" else 0)))
            save(root / part / f"{k}_gt.png", vessel())
    return root


def make_xcad(root: Path, names: list[str], *, n_unlabelled: int = 2) -> Path:
    for i, name in enumerate(names):
        save(root / "test" / "images" / f"{name}.png", image(i))
        save(root / "test" / "masks" / f"{name}.png", vessel())
    for i in range(n_unlabelled):
        save(root / "train" / "trainB" / f"{i}.png", image(50 + i))
    return root


def make_drive(root: Path, numbers: list[int], part: str = "training") -> Path:
    """root/<part>/images/NN_<part>.tif (RGB), 1st_manual/NN_manual1.gif, mask/NN_<part>_mask.gif."""
    for n in numbers:
        nn = f"{n:02d}"
        save(root / part / "images" / f"{nn}_{part}.tif", image(n, rgb=True))
        save(root / part / "1st_manual" / f"{nn}_manual1.gif", vessel())
        fov = np.zeros((SIZE, SIZE), np.uint8)
        fov[1:-1, 1:-1] = 255
        save(root / part / "mask" / f"{nn}_{part}_mask.gif", fov)
    return root


def make_nnunet(root: Path, ids: list[str], *, labels: dict | None = None,
                label_values: tuple[int, int] = (0, 1), ending: str = ".png") -> Path:
    meta = {"channel_names": {"0": "angio"}, "labels": labels or {"background": 0, "vessel": 1},
            "numTraining": len(ids), "file_ending": ending}
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    for i, case in enumerate(ids):
        save(root / "imagesTr" / f"{case}_0000{ending}", image(i))
        save(root / "labelsTr" / f"{case}{ending}", vessel(label_values))
    return root
