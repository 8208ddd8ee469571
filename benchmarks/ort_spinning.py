"""ONNX Runtime's busy-waiting worker threads against blocking ones (dskd.inference.backends.OnnxNet
spin_wait), for the 512x512 network of each width on --threads threads.

ONNX Runtime's workers spin after each run, waiting for the next one. Two figures per width:
- alone: one session, a frame end to end as `dskd predict` runs it (standardise, pad, network,
  crop), --blocks interleaved blocks of --frames frames per setting, the median of the block medians;
- alternating: two sessions of the same setting run in turn, as benchmarks/int8_onnx.py times
  float32 against int8; the first session's median frame time.

    python benchmarks/ort_spinning.py --widths 4 8 16 --threads 2 --blocks 15 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from inference import machine, time_calls  # benchmarks/inference.py: one timing loop, one CPU name

from dskd.data.datasets import image_tensor
from dskd.data.synthetic import synth_angiogram
from dskd.deploy.export import export_model
from dskd.inference.backends import OnnxNet
from dskd.inference.probabilities import frame_probabilities
from dskd.models.unet import UNet

SETTINGS = {"blocking": False, "spin-wait": True}


def median_seconds(call: Callable[[], object], frames: int) -> float:
    return statistics.median(time_calls(call, warmup=2, frames=frames, budget_s=float("inf")))


def alone(path: Path, image: np.ndarray, *, threads: int, frames: int, blocks: int) -> dict[str, list[float]]:
    """frames/s of each setting in `blocks` blocks, the order of the settings swapped every block."""
    nets = {name: OnnxNet(path, threads=threads, spin_wait=spin) for name, spin in SETTINGS.items()}
    fps: dict[str, list[float]] = {name: [] for name in nets}
    for block in range(blocks):
        for name in (list(nets) if block % 2 == 0 else list(nets)[::-1]):
            net = nets[name]
            fps[name].append(1 / median_seconds(lambda net=net: frame_probabilities(net, image), frames))
    return fps


def alternating(path: Path, image: np.ndarray, *, threads: int, frames: int) -> dict[str, float]:
    """frames/s of the first of two sessions of one setting run in turn."""
    fps = {}
    for name, spin in SETTINGS.items():
        first, second = (OnnxNet(path, threads=threads, spin_wait=spin) for _ in range(2))
        x = image_tensor(image, first.size_multiple)
        times = []
        for _ in range(frames + 2):
            start = time.perf_counter()
            first(x)
            times.append(time.perf_counter() - start)
            second(x)
        fps[name] = 1 / statistics.median(times[2:])
    return fps


def format_markdown(result: dict) -> str:
    lines = ["# ONNX Runtime: spinning against blocking worker threads", "",
             f"Command: `{result['command']}`  ",
             f"CPU: {result['cpu']}, {result['threads']} thread(s), onnxruntime {result['onnxruntime']}; "
             f"load average before / after: {result['load_before']} / {result['load_after']}; "
             f"{result['size']}x{result['size']}.", "",
             "| width | setting | alone, frames/s (median of blocks) | blocks "
             "| alternating with a second session, frames/s |",
             "|---:|---|---:|---|---:|"]
    for r in result["rows"]:
        blocks = ", ".join(f"{v:.1f}" for v in r["alone_blocks"])
        lines.append(f"| {r['width']} | {r['setting']} | {r['alone_fps']:.1f} | {blocks} "
                     f"| {r['alternating_fps']:.1f} |")
    lines += ["", "blocking: dskd's setting (`session.intra_op.allow_spinning=0`); "
                  "spin-wait: ONNX Runtime's default."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--frames", type=int, default=10, help="timed frames per block")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="folder for ort-spinning.json and .md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)  # the pre- and post-processing around the network
    load_before = round(os.getloadavg()[0], 2)
    image = synth_angiogram(np.random.default_rng(0), args.size)[0]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for width in args.widths:
            torch.manual_seed(0)
            model = UNet(depth=4, width=width).eval()
            path = export_model(model, Path(folder) / f"w{width}.onnx", check=False)
            blocks = alone(path, image, threads=args.threads, frames=args.frames, blocks=args.blocks)
            pairs = alternating(path, image, threads=args.threads, frames=args.frames * 2)
            for name in SETTINGS:
                rows.append({"width": width, "setting": name,
                             "alone_fps": round(statistics.median(blocks[name]), 2),
                             "alone_blocks": [round(v, 2) for v in blocks[name]],
                             "alternating_fps": round(pairs[name], 2)})
                print(rows[-1], flush=True)
    command = " ".join(sys.argv[1:] if argv is None else argv)
    result = {"command": f"python benchmarks/ort_spinning.py {command}", "cpu": machine()["cpu"],
              "threads": args.threads,
              "onnxruntime": ort.__version__, "size": args.size, "load_before": load_before,
              "load_after": round(os.getloadavg()[0], 2), "rows": rows}
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ort-spinning.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / "ort-spinning.md").write_text(format_markdown(result))
    print(format_markdown(result))


if __name__ == "__main__":
    main()
