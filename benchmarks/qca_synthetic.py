"""QCA end to end on synthetic angiograms with stenoses of known degree (issue 32): image ->
model -> mask and probability map -> QCA, against the generator's lesion table.

Each image (dskd.data.synthetic.lesions: up to 2 raised-cosine stenoses of 20-90 %DS on the wider
arteries) goes through a trained model; QCA reads the predicted mask with its probability map.
A true lesion is matched by the nearest measured lesion within half its full length plus one
reference diameter (lesions searched down to 15% for the %DS error; the reporting threshold of
50% for detection). The same QCA on the true masks is given beside it, so the model's share of
the error can be told from QCA's. Targets: %DS mean absolute error <= 8 points; lesions of >= 50%
found with sensitivity >= 0.85.

    python benchmarks/qca_synthetic.py --checkpoint runs/demo/run/best.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from dskd.checkpoint import load_model
from dskd.data.synthetic.lesions import synth_angiogram_with_lesions
from dskd.inference import predict_probabilities
from dskd.qca import analyse_frame

sys.path.insert(0, str(Path(__file__).parent))
from inference import machine  # noqa: E402
from qca_phantoms import match_lesions  # noqa: E402

OUT = Path(__file__).parent / "results" / "qca-synthetic"


def _score(truths_by_image, results_by_image) -> dict:
    errors, length_errors, significant, found, false = [], [], 0, 0, 0
    for truths, result in zip(truths_by_image, results_by_image, strict=True):
        for i, j in match_lesions(truths, result.lesions).items():
            errors.append(result.lesions[j].percent_diameter_stenosis - truths[i].percent_diameter_stenosis)
            length_errors.append(result.lesions[j].length_px - truths[i].length_px)
        reported = [lesion for lesion in result.lesions if lesion.percent_diameter_stenosis >= 50]
        matched = match_lesions(truths, reported)
        significant += sum(t.percent_diameter_stenosis >= 50 for t in truths)
        found += sum(truths[i].percent_diameter_stenosis >= 50 for i in matched)
        false += len(reported) - len(matched)
    errors = np.array(errors)
    total = sum(len(t) for t in truths_by_image)
    return {
        "true_lesions": total,
        "matched": int(errors.size),
        "ds_mae": float(np.mean(np.abs(errors))) if errors.size else None,
        "ds_mean_signed": float(np.mean(errors)) if errors.size else None,
        "length_mae_px": float(np.mean(np.abs(length_errors))) if length_errors else None,
        "significant": significant,
        "found": found,
        "sensitivity_50": found / significant if significant else None,
        "false_per_image": false / len(truths_by_image),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="runs/demo/run/best.pt", help="model (default: the demo's)")
    parser.add_argument("--n", type=int, default=60, help="images (default 60)")
    parser.add_argument("--size", type=int, default=300, help="image side (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output prefix (default {OUT})")
    args = parser.parse_args(argv)
    model, _, threshold = load_model(args.checkpoint)
    truths, on_model, on_truth = [], [], []
    for k in range(args.n):
        image, mask, lesions = synth_angiogram_with_lesions(np.random.default_rng([args.seed, k]), args.size)
        probabilities = predict_probabilities(model, image, torch.device("cpu"))
        truths.append(lesions)
        on_model.append(analyse_frame(probabilities >= threshold, probability=probabilities, min_stenosis=15))
        on_truth.append(analyse_frame(mask, min_stenosis=15))
    report = {
        "command": "python benchmarks/qca_synthetic.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "checkpoint": args.checkpoint,
        "images": args.n,
        "seed": args.seed,
        "through_the_model": _score(truths, on_model),
        "on_the_true_masks": _score(truths, on_truth),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    m, t = report["through_the_model"], report["on_the_true_masks"]

    def fmt(value, spec):
        return "–" if value is None else format(value, spec)

    lines = [
        "# QCA end to end on synthetic angiograms with stenoses (issue 32)",
        "",
        f"Command: `{report['command']}`; model {args.checkpoint}; {args.n} images of {args.size} px; "
        f"CPU {report['machine']['cpu']}.",
        "",
        "| figure | through the model (probability map) | on the true masks | target |",
        "|---|---:|---:|---|",
        f"| lesions matched | {m['matched']} of {m['true_lesions']} | "
        f"{t['matched']} of {t['true_lesions']} | – |",
        f"| %DS mean absolute error | {fmt(m['ds_mae'], '.1f')} "
        f"(signed {fmt(m['ds_mean_signed'], '+.1f')}) | "
        f"{fmt(t['ds_mae'], '.1f')} (signed {fmt(t['ds_mean_signed'], '+.1f')}) | <= 8 points |",
        f"| lesion length MAE | {fmt(m['length_mae_px'], '.1f')} px | "
        f"{fmt(t['length_mae_px'], '.1f')} px | – |",
        f"| lesions >= 50% found | {m['found']} / {m['significant']} ({fmt(m['sensitivity_50'], '.0%')}) | "
        f"{t['found']} / {t['significant']} ({fmt(t['sensitivity_50'], '.0%')}) | >= 85% |",
        f"| false lesions per image | {m['false_per_image']:.2f} | {t['false_per_image']:.2f} | – |",
        "",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
