"""int8 quantisation in ONNX Runtime as a speed lever (issue 13): float32 against the int8 model
of `dskd export --int8` (dskd.deploy.quantize, calibrated here on synthetic angiograms) for the
512x512 network of each width, timed alternately in one process so that both see the same load.

With --checkpoints (fold models of the ablation grids), the Dice check: each model exported in
float32 and in int8 (calibrated on 16 of its own training images), both scored on its held-out
fold (threshold 0.5, the grids' primary figure), and the paired per-image Dice difference. int8
is worth using where it is faster and keeps Dice within 0.5 point.

    python benchmarks/int8_onnx.py --widths 4 8 16 --out benchmarks/results
    python benchmarks/int8_onnx.py --widths --checkpoints runs/ablate/cimat-width/runs/*/fold0-seed0/last.pt \
        --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from inference import machine  # benchmarks/inference.py

from dskd.checkpoint import load_model
from dskd.data.cases import load_case
from dskd.data.datasets import image_tensor
from dskd.data.synthetic import synth_angiogram
from dskd.data.training_split import split_training_cases
from dskd.deploy.export import export_model
from dskd.evaluation.stats import paired_comparison
from dskd.inference.backends import OnnxNet
from dskd.inference.cases import net_probabilities
from dskd.metrics.scoring import score_predictions
from dskd.models.unet import UNet


def measure_width(width: int, *, size: int, frames: int, threads: int, calibration: int,
                  folder: Path) -> list[dict]:
    """float32 against the int8 model `dskd export --int8` writes, for an untrained network."""
    torch.manual_seed(0)
    model = UNet(depth=4, width=width).eval()
    images = [synth_angiogram(np.random.default_rng(s), size)[0] for s in range(calibration + 1)]
    # no check: an untrained network's masks crowd the threshold, which the int8 check refuses
    paths = {"float32": export_model(model, folder / f"w{width}.onnx", check=False),
             "int8": export_model(model, folder / f"w{width}-int8.onnx", check=False,
                                  int8_frames=images[1:])}
    nets = {name: OnnxNet(path, threads=threads) for name, path in paths.items()}
    x = image_tensor(images[0], model.size_multiple)  # not a calibration image
    outputs = {name: net(x).numpy() for name, net in nets.items()}
    times: dict[str, list[float]] = {name: [] for name in nets}
    for _ in range(frames):  # alternate, so that a change of load hits every format alike
        for name, net in nets.items():
            start = time.perf_counter()
            net(x)
            times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["float32"])
    return [{"width": width, "format": name, "ms_per_frame": round(statistics.median(t) * 1e3, 2),
             "fps": round(1 / statistics.median(t), 2),
             "speedup": round(reference / statistics.median(t), 3),
             "max_abs_dp": float(np.abs(outputs[name] - outputs["float32"]).max()),
             "mask_px_changed": float(((outputs[name] > 0.5) != (outputs["float32"] > 0.5)).mean())}
            for name, t in times.items()]


def dice_check(checkpoint: Path, *, calibration: int, folder: Path) -> dict:
    """Out-of-fold per-image Dice of the float32 and int8 exports of one fold model."""
    model, config, _ = load_model(checkpoint)
    train, held_out = split_training_cases(config.data, seed=config.run.seed)
    frames = [load_case(c).image for c in train[:calibration]]
    float32 = export_model(model, folder / "check-float32.onnx")
    int8 = export_model(model, folder / "check-int8.onnx", int8_frames=frames)
    cases = [load_case(c) for c in held_out]
    dice = {}
    for name, path in (("float32", float32), ("int8", int8)):
        rows, _ = score_predictions(cases, net_probabilities(OnnxNet(path), cases), threshold=0.5)
        dice[name] = np.array([r["dice"] for r in rows])
    paired = paired_comparison(dice["float32"], dice["int8"])
    return {"checkpoint": str(checkpoint), "width": config.model.width, "fold": config.data.fold,
            "objective": config.loss.objective, "images": len(cases),
            "dice_float32": round(paired.mean_a, 4), "dice_int8": round(paired.mean_b, 4),
            "difference": round(paired.mean_difference, 4),
            "difference_ci": [round(paired.ci_low, 4), round(paired.ci_high, 4)],
            "int8_better": paired.b_better, "float32_better": paired.a_better,
            "per_image": {name: [round(float(d), 5) for d in values] for name, values in dice.items()}}


def pooled_by_width(checks: list[dict]) -> list[dict]:
    """The paired int8 - float32 difference over every held-out image of the checks of a width
    (the fold models of one grid variant: all 40 out-of-fold images when all five are checked)."""
    pooled = []
    for width in sorted({c["width"] for c in checks}):
        mine = [c for c in checks if c["width"] == width and "per_image" in c]
        if not mine:
            continue
        a = np.concatenate([c["per_image"]["float32"] for c in mine])
        b = np.concatenate([c["per_image"]["int8"] for c in mine])
        paired = paired_comparison(a, b)
        pooled.append({"width": width, "models": len(mine), "images": len(a),
                       "dice_float32": round(paired.mean_a, 4), "dice_int8": round(paired.mean_b, 4),
                       "difference": round(paired.mean_difference, 4),
                       "difference_ci": [round(paired.ci_low, 4), round(paired.ci_high, 4)],
                       "int8_better": paired.b_better, "float32_better": paired.a_better})
    return pooled


def format_markdown(result: dict) -> str:
    lines = ["# int8 quantisation in ONNX Runtime", "", f"Command: `{result['command']}`  ",
             f"CPU: {result['cpu']}, {result['threads']} thread(s); load average before / after: "
             f"{result['load_before']} / {result['load_after']}; {result['size']}x{result['size']}, "
             f"median of {result['frames']} frames, formats timed alternately.", "",
             "| width | format | ms/frame | frames/s | speed-up | max abs dp | mask px changed |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['width']} | {r['format']} | {r['ms_per_frame']:.1f} | {r['fps']:.1f} | "
                     f"{r['speedup']:.2f}x | {r['max_abs_dp']:.1e} | {100 * r['mask_px_changed']:.3f}% |")
    if result.get("dice_checks"):
        lines += ["", "Out-of-fold Dice, float32 against int8 (threshold 0.5; int8 calibrated on 16 "
                      "of the model's own training images):", "",
                  "| checkpoint | width | objective | fold | images | float32 | int8 | int8 - float32 "
                  "[95% CI] | better / worse |", "|---|---:|---|---:|---:|---:|---:|---|---:|"]
        for c in result["dice_checks"]:
            lines.append(f"| {c['checkpoint']} | {c['width']} | {c['objective']} | {c['fold']} | "
                         f"{c['images']} | {c['dice_float32']:.4f} | {c['dice_int8']:.4f} | "
                         f"{c['difference']:+.4f} [{c['difference_ci'][0]:+.4f}, "
                         f"{c['difference_ci'][1]:+.4f}] | {c['int8_better']} / {c['float32_better']} |")
        for p in pooled_by_width(result["dice_checks"]):
            lines.append(f"| all {p['models']} models of width {p['width']} | {p['width']} | | | "
                         f"{p['images']} | {p['dice_float32']:.4f} | {p['dice_int8']:.4f} | "
                         f"{p['difference']:+.4f} [{p['difference_ci'][0]:+.4f}, "
                         f"{p['difference_ci'][1]:+.4f}] | {p['int8_better']} / {p['float32_better']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="*", default=[4, 8, 16],
                        help="untrained networks to time (none: only the --checkpoints check)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--calibration", type=int, default=8, help="synthetic calibration images")
    parser.add_argument("--checkpoints", type=Path, nargs="*", default=[],
                        help="fold models (dskd ablate runs) to check out-of-fold Dice on")
    parser.add_argument("--out", type=Path, default=None, help="folder for int8_onnx.json and .md")
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        rows = [row for w in args.widths
                for row in measure_width(w, size=args.size, frames=args.frames, threads=args.threads,
                                         calibration=args.calibration, folder=Path(folder))]
        checks = [dice_check(c, calibration=16, folder=Path(folder)) for c in args.checkpoints]
    cpu = machine()["cpu"]
    result = {"command": "python benchmarks/int8_onnx.py " + " ".join(
                  [f"--widths {' '.join(map(str, args.widths))}", f"--size {args.size}",
                   f"--frames {args.frames}", f"--threads {args.threads}"]),
              "cpu": cpu, "threads": args.threads, "onnxruntime": ort.__version__, "size": args.size,
              "frames": args.frames, "load_before": load_before,
              "load_after": round(os.getloadavg()[0], 2), "rows": rows, "dice_checks": checks}
    if args.out:
        # the speed table and the Dice checks may come from separate runs: keep the other's part
        previous = args.out / "int8_onnx.json"
        if previous.exists():
            old = json.loads(previous.read_text())
            if not rows:
                result.update({k: old[k] for k in old if k not in ("dice_checks", "dice_command")})
            if not checks and old.get("dice_checks"):
                result["dice_checks"], result["dice_command"] = old["dice_checks"], old.get("dice_command")
        if checks:
            result["dice_command"] = "python benchmarks/int8_onnx.py --widths --checkpoints " + " ".join(
                map(str, args.checkpoints))
        result["dice_pooled"] = pooled_by_width(result.get("dice_checks") or [])
        args.out.mkdir(parents=True, exist_ok=True)
        previous.write_text(json.dumps(result, indent=2) + "\n")
        (args.out / "int8_onnx.md").write_text(format_markdown(result))
    print(format_markdown(result))


if __name__ == "__main__":
    main()
