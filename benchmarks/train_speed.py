"""Training speed of a DSKD step against a plain `dice` step of the same network and batch.

Both objectives run side by side in one process, in interleaved rounds (so that a machine that
slows down or speeds up during the run affects both alike), through the trainer's own
`train_one_epoch` on batches made in advance (data loading is not timed). The DSKD teacher is
ready, so every DSKD step runs the teacher: the steady state of epochs 2 and later.
A second part times the phases of one step (teacher forward, student forward, losses, backward,
optimiser) for the step as the trainer runs it and for the step as it was before it was made lean
(teacher with BatchNorm unfolded, side outputs always computed, row-major tensors).

    python benchmarks/train_speed.py                      # CPU defaults: U-Net depth 4 width 16,
                                                          # batch 8 of 128 px crops
    python benchmarks/train_speed.py --device cuda --amp  # a GPU, bf16 autocast

Writes benchmarks/results/train-speed.json and train-speed.md (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from dskd.config import AugmentConfig, LossConfig, ModelConfig
from dskd.data.cases import CaseArrays
from dskd.data.datasets import TrainCrops
from dskd.data.synthetic import synth_angiogram
from dskd.losses.objective import (
    compute_objective,
    student_reads_side_outputs,
    teacher_reads_side_outputs,
)
from dskd.models.unet import build_model
from dskd.teacher import Teacher
from dskd.train import train_one_epoch

OBJECTIVES = ("dice", "dskd")


def make_batches(steps: int, batch: int, crop: int, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """`steps` batches of augmented crops of synthetic angiograms (as the trainer would see)."""
    cases = []
    for k in range(4):
        image, mask = synth_angiogram(np.random.default_rng([seed, k]), max(256, crop))
        cases.append(CaseArrays(f"case_{k}", image, mask, None))
    crops = TrainCrops(cases, crop_size=crop, samples_per_epoch=steps * batch,
                       foreground_prob=0.5, augment=AugmentConfig(), seed=seed)
    items = [crops[i] for i in range(steps * batch)]
    return [(torch.stack([im for im, _ in items[s * batch:(s + 1) * batch]]),
             torch.stack([m for _, m in items[s * batch:(s + 1) * batch]])) for s in range(steps)]


class Trainee:
    """A student, its optimiser and (for DSKD) a ready teacher, as fit() builds them."""

    def __init__(self, objective: str, model_config: ModelConfig, device: torch.device, *,
                 channels_last: bool, fold_batchnorm: bool = True, compile: bool = False) -> None:
        torch.manual_seed(0)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.loss = LossConfig(objective=objective)
        self.student = build_model(model_config).to(device, memory_format=fmt)
        self.optimizer = torch.optim.AdamW(self.student.parameters(), lr=1e-3, weight_decay=1e-4)
        self.teacher = None
        if objective != "dice":
            self.teacher = Teacher(self.student, fold_batchnorm=fold_batchnorm).to(device, fmt)
            self.teacher.refresh(self.student)  # ready: the steady state of epochs >= 2
            if compile:
                self.teacher.compile()
        self.model = torch.compile(self.student) if compile else self.student
        self.channels_last = channels_last
        self.device = device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_rounds(trainees: dict[str, Trainee], batches: list, *, rounds: int,
                amp_dtype: torch.dtype | None) -> dict[str, list[float]]:
    """Seconds per round (one pass over `batches`) of each trainee, rounds interleaved."""
    def one_round(t: Trainee) -> float:
        _sync(t.device)
        start = time.perf_counter()
        train_one_epoch(t.model, t.teacher, batches, t.optimizer, loss_config=t.loss,
                        alpha_t=0.25, device=t.device, amp_dtype=amp_dtype,
                        channels_last=t.channels_last, description="bench")
        _sync(t.device)
        return time.perf_counter() - start

    for t in trainees.values():  # warm-up: allocator, oneDNN/cuDNN kernel choice
        one_round(t)
    seconds: dict[str, list[float]] = {name: [] for name in trainees}
    for _ in range(rounds):
        for name, t in trainees.items():
            seconds[name].append(one_round(t))
    return seconds


def phase_times(t: Trainee, batches: list, *, lean: bool, amp_dtype: torch.dtype | None,
                repeats: int) -> dict[str, float]:
    """Median milliseconds of each phase of one step. lean=False: side outputs always computed
    (the step before it was made lean); the teacher's folding is set when `t` was built."""
    device = t.device
    fmt = torch.channels_last if t.channels_last else torch.contiguous_format
    autocast = (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None
                else torch.autocast(device.type, enabled=False))
    student_sides = student_reads_side_outputs(t.loss, teacher_ready=True) or not lean
    teacher_sides = teacher_reads_side_outputs(t.loss) or not lean
    samples: dict[str, list[float]] = {}

    @contextmanager
    def clock(name: str) -> Iterator[None]:
        _sync(device)
        start = time.perf_counter()
        yield
        _sync(device)
        samples.setdefault(name, []).append(1000 * (time.perf_counter() - start))

    t.model.train()
    for step in range(repeats + 1):
        images, masks = batches[step % len(batches)]
        images = images.to(device, memory_format=fmt)
        masks = masks.to(device)
        with autocast:
            teacher_out = None
            if t.teacher is not None:
                with clock("teacher forward"):
                    teacher_out = t.teacher(images, with_side_outputs=teacher_sides)
            with clock("student forward"):
                student_out = t.model(images, with_side_outputs=student_sides)
            with clock("losses"):
                terms = compute_objective(student_out, teacher_out, masks, config=t.loss,
                                          alpha_t=0.25)
        t.optimizer.zero_grad(set_to_none=True)
        with clock("backward"):
            terms.total.backward()
        with clock("optimiser"):
            t.optimizer.step()
        if step == 0:
            samples.clear()  # warm-up step
    phases = {name: statistics.median(values) for name, values in samples.items()}
    phases["step"] = sum(phases.values())
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per variant")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile student and teacher (run.compile; slow warm-up)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp_dtype = torch.bfloat16 if args.amp and device.type == "cuda" else None
    model_config = ModelConfig(depth=args.depth, width=args.width)
    batches = make_batches(args.steps, args.batch, args.crop)

    variants = {f"{objective}/{layout}": Trainee(objective, model_config, device,
                                                 channels_last=layout == "channels_last",
                                                 compile=args.compile)
                for layout in ("channels_last", "row_major") for objective in OBJECTIVES}
    seconds = time_rounds(variants, batches, rounds=args.rounds, amp_dtype=amp_dtype)
    images_per_round = args.steps * args.batch
    results = {name: {"images_per_s": images_per_round / statistics.median(s),
                      "step_ms": 1000 * statistics.median(s) / args.steps,
                      "round_seconds": [round(x, 4) for x in s]}
               for name, s in seconds.items()}
    ratios = {layout: results[f"dskd/{layout}"]["step_ms"] / results[f"dice/{layout}"]["step_ms"]
              for layout in ("channels_last", "row_major")}

    repeats = max(3, args.steps)
    breakdown = {
        "dice (lean, channels-last)": phase_times(variants["dice/channels_last"], batches,
                                                  lean=True, amp_dtype=amp_dtype, repeats=repeats),
        "dskd (lean, channels-last)": phase_times(variants["dskd/channels_last"], batches,
                                                  lean=True, amp_dtype=amp_dtype, repeats=repeats),
        "dice (before: side outputs, row-major)": phase_times(
            Trainee("dice", model_config, device, channels_last=False),
            batches, lean=False, amp_dtype=amp_dtype, repeats=repeats),
        "dskd (before: unfolded teacher, side outputs, row-major)": phase_times(
            Trainee("dskd", model_config, device, channels_last=False, fold_batchnorm=False),
            batches, lean=False, amp_dtype=amp_dtype, repeats=repeats),
    }
    report = {
        "what": "training step, DSKD vs plain dice objective, same network and batch",
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "device": str(device) if device.type == "cpu"
                    else torch.cuda.get_device_name(device)},
        "settings": {"depth": args.depth, "width": args.width, "crop": args.crop,
                     "batch": args.batch, "steps_per_round": args.steps, "rounds": args.rounds,
                     "amp": str(amp_dtype) if amp_dtype else "off", "compile": args.compile},
        "results": results,
        "dskd_over_dice_step_time": ratios,
        "phases_ms": breakdown,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train-speed.json").write_text(json.dumps(report, indent=2))
    (out / "train-speed.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    s, m = report["settings"], report["machine"]
    lines = [
        "# Training speed: DSKD step vs plain dice step",
        "",
        f"{m['device']}, {m['threads']} threads, torch {m['torch']}; U-Net depth {s['depth']} "
        f"width {s['width']}, batch {s['batch']} x {s['crop']} px, amp {s['amp']}, "
        f"compile {'on' if s['compile'] else 'off'}; median of "
        f"{s['rounds']} interleaved rounds of {s['steps_per_round']} steps.",
        "",
        "| objective | layout | images/s | ms/step |",
        "|---|---|---:|---:|",
    ]
    for name, r in report["results"].items():
        objective, layout = name.split("/")
        lines.append(f"| {objective} | {layout} | {r['images_per_s']:.1f} | {r['step_ms']:.1f} |")
    lines += ["", "DSKD step time / dice step time: " + ", ".join(
        f"{layout} **{ratio:.3f}x**" for layout, ratio in report["dskd_over_dice_step_time"].items()),
        "", "Phases of one step (median ms):", ""]
    phases = ["teacher forward", "student forward", "losses", "backward", "optimiser", "step"]
    lines += ["| step | " + " | ".join(phases) + " |", "|---|" + "---:|" * len(phases)]
    for name, p in report["phases_ms"].items():
        lines.append(f"| {name} | " + " | ".join(f"{p.get(k, 0.0):.1f}" for k in phases) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
