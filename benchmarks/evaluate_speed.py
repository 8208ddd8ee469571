"""Wall time of `dskd evaluate` on 20 images of 300x300 (the target: under ~30 s on a laptop CPU).

Both ways in are timed as the user runs them (a fresh process, imports included):
1. --pred/--labels: Frangi vesselness maps (skimage.filters.frangi, a classical filter standing in
   for "another tool"), saved as 8-bit probability maps, scored with --pred-threshold;
2. --checkpoint/--data: a default-config U-Net (untrained: only the time matters here).
Each with and without the HTML report. The images are synthetic angiograms, or the real
cimat-angiograms test set with --cimat (the folder holding <n>.png and <n>_gt.png).

    python benchmarks/evaluate_speed.py --work /tmp/eval-speed [--cimat DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from skimage.filters import frangi

from dskd.checkpoint import save_checkpoint
from dskd.config import config_to_dict, load_config
from dskd.data.io import read_image, write_png
from dskd.data.synthetic import write_synthetic_dataset
from dskd.models.unet import build_model


def _dataset(work: Path, n: int, size: int, cimat: Path | None) -> tuple[Path, Path, str]:
    """(images folder, labels folder, label suffix) in the generic layout."""
    root = work / "data"
    if root.exists():
        shutil.rmtree(root)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    if cimat is None:
        write_synthetic_dataset(root, n=n, size=size, seed=11, progress=False)
        return root / "images", root / "masks", ""
    for label in sorted(cimat.glob("*_gt.png"))[:n]:
        name = label.name.removesuffix("_gt.png")
        shutil.copy(cimat / f"{name}.png", root / "images" / f"{name}.png")
        shutil.copy(label, root / "masks" / f"{name}.png")
    return root / "images", root / "masks", ""


def _frangi_maps(images: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(images.glob("*.png")):
        vesselness = frangi(read_image(path), sigmas=(1, 2, 3, 4), black_ridges=True)
        write_png(out / path.name, vesselness / max(float(vesselness.max()), 1e-12))


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dskd", *argv], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="scratch folder")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--cimat", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=0, help="passed to dskd evaluate --threads")
    args = parser.parse_args()
    work = Path(args.work)
    images, labels, _ = _dataset(work, args.n, args.size, args.cimat)
    _frangi_maps(images, work / "frangi")
    config = load_config(None, [f"data.root={images.parent}"])
    save_checkpoint({"config": config_to_dict(config), "model": build_model(config.model).state_dict(),
                     "epoch": 0, "threshold": 0.5, "val_dice": float("nan")}, work / "untrained.pt")
    pred = ["evaluate", "--pred", str(work / "frangi"), "--labels", str(labels), "--images", str(images),
            "--pred-threshold", "0.1"]
    model = ["evaluate", "--checkpoint", str(work / "untrained.pt"), "--data", str(images.parent),
             "--threads", str(args.threads)]
    results = {
        "images": args.n if args.cimat is None else len(list(images.glob("*.png"))),
        "source": "synthetic" if args.cimat is None else str(args.cimat),
        "pred_folders_no_report_s": _timed([*pred, "--out", str(work / "e1"), "--no-report"]),
        "pred_folders_with_report_s": _timed([*pred, "--out", str(work / "e2")]),
        "checkpoint_no_report_s": _timed([*model, "--out", str(work / "e3"), "--no-report"]),
        "checkpoint_with_report_s": _timed([*model, "--out", str(work / "e4")]),
        "cli_start_s": _timed(["--version"]),
    }
    summary = json.loads((work / "e2" / "summary.json").read_text())
    results["frangi_dice_mean"] = summary["per_image"]["dice"]["mean"]
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in results.items()}, indent=2))
    assert np.isfinite(results["frangi_dice_mean"])


if __name__ == "__main__":
    main()
