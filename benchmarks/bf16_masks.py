"""bf16 inference against float32 on real angiograms (issue 31): how many mask pixels change,
and what that does to Dice. CIMAT out of fold, not the test split: each fold's images through the
plain U-Net of that fold (the bf16 grid's fold models, `--runs`; last.pt, threshold 0.5), once in
float32 and once in bf16 as `dskd predict --precision` runs it on a CPU (channels-last, BatchNorm
folded into the convolutions and each ReLU fused into its convolution, weights in bf16; the results
committed before 2026-12-08 folded nothing, and bf16-masks-amx fused no ReLU).
Target: Dice change <= 0.001.

    python benchmarks/bf16_masks.py --runs runs/ablate/cimat-bf16/runs/dice_bf16
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from dskd.checkpoint import load_model
from dskd.data.cases import load_case
from dskd.data.readers import read_cases
from dskd.data.splits import apply_split, read_split_file
from dskd.inference.backends import TorchNet
from dskd.inference.precision import cpu_bf16_units
from dskd.inference.probabilities import frame_probabilities
from dskd.metrics.overlap import confusion_counts, overlap_metrics

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from inference import machine  # noqa: E402
from qca_cimat import finished_fold_runs  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "bf16-masks"


def _dice(mask: np.ndarray, label: np.ndarray) -> float:
    counts = confusion_counts(torch.from_numpy(mask)[None], torch.from_numpy(label)[None], None)
    return float(overlap_metrics(counts)["dice"][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, required=True, help="a grid variant's runs folder")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "cimat-angiograms")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output prefix (default {OUT})")
    args = parser.parse_args(argv)
    cases, split = read_cases("cimat", args.data), read_split_file(REPO / "splits" / "cimat_cv5.json")
    rows = []
    for fold, folder in sorted(finished_fold_runs(args.runs).items()):
        model, _, _ = load_model(folder / "last.pt")
        nets = {
            name: TorchNet(model, torch.device("cpu"), channels_last=True, autocast_dtype=dtype,
                           fold_batch_norm=dtype is not None, fuse_relu=dtype is not None)  # as load_net
            for name, dtype in (("float32", None), ("bf16", torch.bfloat16))
        }
        for case in apply_split(cases, split, f"fold_{fold}", source="cimat_cv5"):
            arrays = load_case(case)
            masks = {name: frame_probabilities(net, arrays.image) >= 0.5 for name, net in nets.items()}
            label = arrays.mask.astype(bool)
            rows.append(
                {
                    "image": case.name,
                    "pixels_changed": int(np.sum(masks["float32"] != masks["bf16"])),
                    "fraction_changed": float(np.mean(masks["float32"] != masks["bf16"])),
                    "dice_float32": _dice(masks["float32"], label),
                    "dice_bf16": _dice(masks["bf16"], label),
                }
            )
    changes = np.array([r["dice_bf16"] - r["dice_float32"] for r in rows])
    report = {
        "command": "python benchmarks/bf16_masks.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {**machine(), "bf16_units": cpu_bf16_units()},
        "images": len(rows),
        "mean_fraction_changed": float(np.mean([r["fraction_changed"] for r in rows])),
        "max_pixels_changed": max(r["pixels_changed"] for r in rows),
        "mean_dice_change": float(changes.mean()),
        "max_abs_dice_change": float(np.abs(changes).max()),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    lines = [
        "# bf16 against float32 masks on real angiograms (issue 31)",
        "",
        f"Command: `{report['command']}`; {len(rows)} CIMAT training images out of fold; CPU "
        f"{report['machine']['cpu']} (bf16 units: {report['machine']['bf16_units']}).",
        "",
        f"- Mask pixels that differ: {100 * report['mean_fraction_changed']:.3f}% on average, at most "
        f"{report['max_pixels_changed']} pixels in one image.",
        f"- Per-image Dice, bf16 minus float32: mean {report['mean_dice_change']:+.5f}, largest change "
        f"{report['max_abs_dice_change']:.5f} (target: <= 0.001).",
        "",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
