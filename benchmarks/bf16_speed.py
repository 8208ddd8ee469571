"""bf16 autocast against float32 on this CPU: a training step and a 512x512 inference (issue 31).

One process; for each width, a training step (depth-4 U-Net, batch 8 of 128 px crops, the plain
`dice` objective and DSKD, channels-last, through dskd.training's own build_training and
train_step) and one 512x512 frame of inference (eval mode, channels-last), float32 and bf16
autocast interleaved, medians of --repeats. The CPU and whether it has bf16 units (AVX512-BF16,
AMX) are named in the results: without units bf16 is emulated and slower.

    python benchmarks/bf16_speed.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from dskd.config import Config, LossConfig, ModelConfig, OptimConfig, RunConfig
from dskd.inference.precision import cpu_bf16_units
from dskd.models.unet import build_model
from dskd.training.distributed import World
from dskd.training.setup import build_training
from dskd.training.step import train_step

sys.path.insert(0, str(Path(__file__).parent))
from inference import machine  # noqa: E402
from train_speed import make_batches, synthetic_cases  # noqa: E402

OUT = Path(__file__).parent / "results" / "bf16-speed"


def _median_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 1)


def training_rows(width: int, objective: str, repeats: int, batches) -> dict:
    torch.manual_seed(0)
    config = Config(
        model=ModelConfig(depth=4, width=width),
        loss=LossConfig(objective=objective),
        optim=OptimConfig(lr=1e-3),
        run=RunConfig(channels_last=True),
    )
    training = build_training(config, torch.device("cpu"))
    training.teacher.end_epoch(training.student, World())  # the teacher of epoch 2 is ready
    training.wrap_for_epoch()
    times = {"float32": [], "bf16": []}
    for k in range(repeats + 1):
        for dtype_name in ("float32", "bf16") if k % 2 else ("bf16", "float32"):
            training.amp_dtype = torch.bfloat16 if dtype_name == "bf16" else None
            start = time.perf_counter()
            train_step(training, batches[k % len(batches)], alpha_t=0.25)
            if k:  # the first round warms up oneDNN
                times[dtype_name].append(time.perf_counter() - start)
    return {name: _median_ms(values) for name, values in times.items()}


@torch.inference_mode()
def inference_row(width: int, repeats: int) -> dict:
    model = build_model(ModelConfig(depth=4, width=width)).eval().to(memory_format=torch.channels_last)
    frame = torch.rand(1, 1, 512, 512).contiguous(memory_format=torch.channels_last)
    times = {"float32": [], "bf16": []}
    for k in range(repeats + 1):
        for dtype_name in ("float32", "bf16") if k % 2 else ("bf16", "float32"):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype_name == "bf16"):
                model(frame)
            if k:
                times[dtype_name].append(time.perf_counter() - start)
    return {name: _median_ms(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32], help="widths (default 8 16 32)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats of each (default 7)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output prefix (default {OUT})")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    batches = make_batches(4, 8, 128, synthetic_cases(8, 300))
    rows = []
    for width in args.widths:
        for objective in ("dice", "dskd"):
            rows.append(
                {
                    "width": width,
                    "what": f"training step ({objective})",
                    **training_rows(width, objective, args.repeats, batches),
                }
            )
        rows.append({"width": width, "what": "inference 512x512", **inference_row(width, args.repeats)})
    for row in rows:
        row["speed_up"] = round(row["float32"] / row["bf16"], 2)
    info = {
        **machine(),
        "bf16_units": cpu_bf16_units(),
        "threads": args.threads,
        "repeats": args.repeats,
        "command": "python benchmarks/bf16_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    lines = [
        "# bf16 autocast against float32 on the CPU",
        "",
        f"Command: `{info['command']}`. CPU: {info['cpu']} ({info['cores']} cores), bf16 units: "
        f"{info['bf16_units'] or 'none'}; torch {info['torch']}, {args.threads} threads; medians of "
        f"{args.repeats}, float32 and bf16 interleaved.",
        "",
        "| width | what | float32 ms | bf16 ms | speed-up |",
        "|---:|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['width']} | {r['what']} | {r['float32']} | {r['bf16']} | {r['speed_up']}x |" for r in rows
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
