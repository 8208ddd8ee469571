"""Training speed of a DSKD step against a plain `dice` step of the same network and batch.

Both objectives run side by side in one process through the trainer's own `build_training` and
`train_step` (dskd.training), on
batches made in advance (data loading is not timed), one step of each variant in turn (the order
reversed every other time). Each DSKD step is compared with the dice step next to it in time, so
a shared machine that slows down or speeds up affects both sides of a ratio alike; the result is
the median of these step-by-step ratios with its quartiles. The DSKD teacher is ready, so every DSKD
step runs the teacher: the steady state of epochs 2 and later.

Also written: the floating-point operations of each step (PyTorch's FlopCounterMode), whose ratio
is the floor the time ratio can reach when every convolution runs equally fast; and the phases of
one step (teacher forward, student forward, losses, backward, optimiser) for the step as the
trainer runs it and as it was before it was made lean (teacher with BatchNorm unfolded, side
outputs always computed, row-major tensors).

    python benchmarks/train_speed.py                      # CPU defaults: U-Net depth 4 width 16,
                                                          # batch 8 of 128 px crops
    python benchmarks/train_speed.py --device cuda --amp  # a GPU, bf16 autocast
    python benchmarks/train_speed.py --width 8 --name train-speed-w8   # configs/cimat-fast.yaml

Writes benchmarks/results/NAME.json and NAME.md (NAME: --name, default train-speed; or --out DIR).
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
from torch.utils.flop_counter import FlopCounterMode

from dskd.config import AugmentConfig, Config, LossConfig, ModelConfig, OptimConfig, RunConfig, TeacherConfig
from dskd.data.cases import CaseArrays
from dskd.data.datasets import TrainCrops
from dskd.data.synthetic import synth_angiogram
from dskd.training.distributed import World
from dskd.training.frozen_copy import FrozenCopy
from dskd.training.setup import build_training
from dskd.training.step import collate_batch, train_step
from dskd.training.teachers import Batch

WHOLE = "dskd-whole-images"  # DSKD with teacher.runs_on=whole_images


def synthetic_cases(count: int, size: int, seed: int = 0) -> list[CaseArrays]:
    """`count` synthetic angiograms of size x size, the stand-in for a training set."""
    cases = []
    for k in range(count):
        image, mask = synth_angiogram(np.random.default_rng([seed, k]), size)
        cases.append(CaseArrays(f"case_{k}", image, mask, None))
    return cases


def make_batches(steps: int, batch: int, crop: int, cases: list[CaseArrays],
                 seed: int = 0) -> list[Batch]:
    """`steps` batches of augmented crops of `cases` (with placements), as the trainer's loader
    makes them."""
    crops = TrainCrops(cases, crop_size=crop, samples_per_epoch=steps * batch,
                       foreground_prob=0.5, augment=AugmentConfig(), seed=seed,
                       with_placement=True)
    items = [crops[i] for i in range(steps * batch)]
    return [collate_batch(items[s * batch:(s + 1) * batch]) for s in range(steps)]


class Trainee:
    """What `build_training` makes for a run (student, teacher policy, objective, optimiser),
    its teacher made ready (the steady state of epochs >= 2). fold_batchnorm=False swaps in an
    unfolded teacher (the step before it was made lean)."""

    def __init__(self, objective: str, model_config: ModelConfig, device: torch.device, *,
                 channels_last: bool, fold_batchnorm: bool = True, compile: bool = False,
                 teacher_runs_on: str = "batch") -> None:
        torch.manual_seed(0)
        config = Config(model=model_config, loss=LossConfig(objective=objective),
                        teacher=TeacherConfig(runs_on=teacher_runs_on),
                        optim=OptimConfig(lr=1e-3, weight_decay=1e-4),
                        run=RunConfig(channels_last=channels_last, compile=compile))
        self.training = build_training(config, device)
        self.student, self.teacher = self.training.student, self.training.teacher
        if not fold_batchnorm and self.training.objective.needs_teacher:
            fmt = self.training.memory_format
            self.teacher.copy = FrozenCopy(self.student, fold_batchnorm=False).to(device, fmt)
        self.teacher.end_epoch(self.student, World())  # the teacher of epoch 2 is ready
        self.training.wrap_for_epoch()
        self.device = device
        self.teacher_runs_on = teacher_runs_on
        self.refresh_seconds: list[float] = []  # of every refresh_maps

    def refresh_maps(self, cases: list[CaseArrays]) -> None:
        """The teacher's start of an epoch (for runs_on=whole_images: its pass over every whole
        image), timed into refresh_seconds."""
        _sync(self.device)
        start = time.perf_counter()
        self.teacher.start_epoch(cases)
        _sync(self.device)
        self.refresh_seconds.append(time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_paired_steps(trainees: dict[str, Trainee], batches: list, *, steps: int,
                      amp_dtype: torch.dtype | None, cases: list[CaseArrays],
                      refresh_every: int = 10) -> dict[str, list[float]]:
    """Seconds of `steps` training steps of each trainee, one step of each in turn (the order
    reversed every other time, so that no trainee always runs first). Trainees whose teacher runs
    on whole images remake its maps every `refresh_every` steps, between two steps, so that
    those passes are timed at moments spread over the run too (in `Trainee.refresh_seconds`)."""
    def one_step(t: Trainee, batch: Batch) -> float:
        _sync(t.device)
        start = time.perf_counter()
        t.training.amp_dtype = amp_dtype
        train_step(t.training, batch, alpha_t=0.25)
        _sync(t.device)
        return time.perf_counter() - start

    for t in trainees.values():  # warm-up: allocator, oneDNN/cuDNN kernel choice
        if t.teacher_runs_on == "whole_images":
            t.refresh_maps(cases)
            t.refresh_seconds.clear()
        for batch in batches[:3]:
            one_step(t, batch)
    seconds: dict[str, list[float]] = {name: [] for name in trainees}
    names = list(trainees)
    for step in range(steps):
        batch = batches[step % len(batches)]
        for name in names if step % 2 == 0 else reversed(names):
            t = trainees[name]
            if t.teacher_runs_on == "whole_images" and step % refresh_every == 0:
                t.refresh_maps(cases)
            seconds[name].append(one_step(t, batch))
    return seconds


def paired_ratio(numerator: list[float], denominator: list[float]) -> dict[str, float]:
    """Median and quartiles of the step-by-step ratios numerator[i] / denominator[i]."""
    ratios = np.asarray(numerator) / np.asarray(denominator)
    q1, median, q3 = np.percentile(ratios, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3)}


def step_flops(t: Trainee, batch: Batch, *, cases: list[CaseArrays],
               steps_per_epoch: int) -> dict[str, float]:
    """Floating-point operations of one training step of `t`: the teacher's forward pass (for a
    teacher on whole images, its epoch's work divided by the steps of an epoch) and the student's
    forward, losses and backward (the optimiser's elementwise update is not counted)."""
    training = t.training
    batch = Batch(batch.images.to(t.device), batch.masks.to(t.device), batch.placements)
    with FlopCounterMode(display=False) as teacher_counter:
        t.refresh_maps(cases)  # the whole-image teacher's pass; nothing for the others
        teacher_out = training.teacher.targets(batch)
    teacher_flops = float(teacher_counter.get_total_flops())
    if t.teacher_runs_on == "whole_images":  # its epoch's pass, shared by the epoch's steps
        with FlopCounterMode(display=False) as cut_counter:
            training.teacher.targets(batch)
        teacher_flops = (teacher_flops - cut_counter.get_total_flops()) / steps_per_epoch
    training.model.train()
    with FlopCounterMode(display=False) as student_counter:
        sides = training.objective.reads(teacher_ready=training.teacher.ready).student_sides
        student_out = training.model(batch.images, with_side_outputs=sides)
        terms = training.objective(student_out, teacher_out, batch.masks, alpha_t=0.25)
        terms.total.backward()
    training.optimizer.zero_grad(set_to_none=True)
    return {"teacher_forward": teacher_flops,
            "student_step": float(student_counter.get_total_flops())}


def phase_step(t: Trainee, batch: Batch, *, lean: bool,
               amp_dtype: torch.dtype | None) -> dict[str, float]:
    """Milliseconds of each phase of one training step of `t` (train_step's phases, timed one by
    one). lean=False: side outputs always computed (the step before it was made lean); the
    teacher's folding is set when `t` was built."""
    device, training = t.device, t.training
    autocast = (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None
                else torch.autocast(device.type, enabled=False))
    reads = training.objective.reads(teacher_ready=True)
    student_sides = reads.student_sides or not lean
    teacher_sides = reads.teacher_sides or not lean
    phases: dict[str, float] = {}

    @contextmanager
    def clock(name: str) -> Iterator[None]:
        _sync(device)
        start = time.perf_counter()
        yield
        _sync(device)
        phases[name] = 1000 * (time.perf_counter() - start)

    training.model.train()
    images = batch.images.to(device, memory_format=training.memory_format)
    masks = batch.masks.to(device)
    with autocast:
        teacher_out = None
        if training.objective.needs_teacher:
            with clock("teacher forward"):
                teacher_out = t.teacher.copy(images, with_side_outputs=teacher_sides)
        with clock("student forward"):
            student_out = training.model(images, with_side_outputs=student_sides)
        with clock("losses"):
            terms = training.objective(student_out, teacher_out, masks, alpha_t=0.25)
    training.optimizer.zero_grad(set_to_none=True)
    with clock("backward"):
        terms.total.backward()
    with clock("optimiser"):
        training.optimizer.step()
    return phases


def phase_medians(steps_of: dict[str, tuple[Trainee, bool]], batches: list, *, repeats: int,
                  amp_dtype: torch.dtype | None) -> dict[str, dict[str, float]]:
    """Median milliseconds of each phase for each (trainee, lean) of `steps_of`, their steps run
    in alternation after one warm-up step each; "step" is the sum of the phase medians."""
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in steps_of}
    for step in range(repeats + 1):
        for name, (trainee, lean) in steps_of.items():
            phases = phase_step(trainee, batches[step % len(batches)], lean=lean,
                                amp_dtype=amp_dtype)
            for phase, ms in phases.items():
                if step > 0:
                    samples[name].setdefault(phase, []).append(ms)
    medians = {}
    for name, phases in samples.items():
        medians[name] = {phase: statistics.median(values) for phase, values in phases.items()}
        medians[name]["step"] = sum(medians[name].values())
    return medians


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=60, help="timed steps of each variant")
    parser.add_argument("--batches", type=int, default=10, help="distinct batches, used in turn")
    # The training set and epoch of teacher.runs_on=whole_images; defaults: CIMAT's recipe.
    parser.add_argument("--images", type=int, default=32, help="training images")
    parser.add_argument("--image-size", type=int, default=300, help="their side, px")
    parser.add_argument("--steps-per-epoch", type=int, default=50,
                        help="steps between two runs of the teacher on the whole images")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile student and teacher (run.compile; slow warm-up)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="train-speed", help="result file name, no suffix")
    args = parser.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp_dtype = torch.bfloat16 if args.amp and device.type == "cuda" else None
    model_config = ModelConfig(depth=args.depth, width=args.width)
    cases = synthetic_cases(args.images, args.image_size)
    batches = make_batches(args.batches, args.batch, args.crop, cases)

    def trainee(objective: str, layout: str) -> Trainee:
        return Trainee("dskd" if objective == WHOLE else objective, model_config, device,
                       channels_last=layout == "channels_last", compile=args.compile,
                       teacher_runs_on="whole_images" if objective == WHOLE else "batch")

    variants = {f"{objective}/{layout}": trainee(objective, layout)
                for layout, objectives in (("channels_last", ("dice", "dskd", WHOLE)),
                                           ("row_major", ("dice", "dskd")))
                for objective in objectives}
    seconds = time_paired_steps(variants, batches, steps=args.steps, amp_dtype=amp_dtype,
                                cases=cases)
    maps_seconds = statistics.median(variants[f"{WHOLE}/channels_last"].refresh_seconds)
    # The teacher's pass over the whole images happens once an epoch: each step carries its share.
    seconds[f"{WHOLE}/channels_last"] = [s + maps_seconds / args.steps_per_epoch
                                         for s in seconds[f"{WHOLE}/channels_last"]]
    results = {name: {"images_per_s": args.batch / statistics.median(s),
                      "step_ms": 1000 * statistics.median(s),
                      "step_seconds": [round(x, 4) for x in s]}
               for name, s in seconds.items()}
    ratios = {name: paired_ratio(s, seconds["dice/" + name.split("/")[1]])
              for name, s in seconds.items() if not name.startswith("dice/")}
    flops = {objective: step_flops(variants[f"{objective}/channels_last"], batches[0], cases=cases,
                                   steps_per_epoch=args.steps_per_epoch)
             for objective in ("dice", "dskd", WHOLE)}
    flop_ratios = {objective: sum(flops[objective].values()) / sum(flops["dice"].values())
                   for objective in ("dskd", WHOLE)}

    breakdown = phase_medians({
        "dice (lean, channels-last)": (variants["dice/channels_last"], True),
        "dskd (lean, channels-last)": (variants["dskd/channels_last"], True),
        "dice (before: side outputs, row-major)": (
            Trainee("dice", model_config, device, channels_last=False), False),
        "dskd (before: unfolded teacher, side outputs, row-major)": (
            Trainee("dskd", model_config, device, channels_last=False, fold_batchnorm=False),
            False),
    }, batches, repeats=max(3, args.steps // 3), amp_dtype=amp_dtype)
    report = {
        "what": "training step, DSKD vs plain dice objective, same network and batch",
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "device": str(device) if device.type == "cpu"
                    else torch.cuda.get_device_name(device)},
        "settings": {"depth": args.depth, "width": args.width, "crop": args.crop,
                     "batch": args.batch, "timed_steps": args.steps, "batches": args.batches,
                     "training_images": args.images, "image_size": args.image_size,
                     "steps_per_epoch": args.steps_per_epoch,
                     "amp": str(amp_dtype) if amp_dtype else "off", "compile": args.compile},
        "results": results,
        "teacher_on_whole_images_seconds_per_epoch": maps_seconds,
        "over_dice_step_time": ratios,
        "flops_per_step": flops,
        "over_dice_flops": flop_ratios,
        "phases_ms": breakdown,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=2))
    (out / f"{args.name}.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    s, m = report["settings"], report["machine"]
    lines = [
        "# Training speed: DSKD step vs plain dice step",
        "",
        f"{m['device']}, {m['threads']} threads, torch {m['torch']}; U-Net depth {s['depth']} "
        f"width {s['width']}, batch {s['batch']} x {s['crop']} px, amp {s['amp']}, "
        f"compile {'on' if s['compile'] else 'off'}; medians of {s['timed_steps']} steps of each, "
        "run in alternation.",
        f"`{WHOLE}` is DSKD with teacher.runs_on=whole_images: the teacher runs once an epoch "
        f"on {s['training_images']} whole {s['image_size']} x {s['image_size']} images "
        f"({report['teacher_on_whole_images_seconds_per_epoch']:.2f} s, the median of passes "
        f"spread over the run), and each of the {s['steps_per_epoch']} steps of an epoch carries "
        "its share.",
        "",
        "| objective | layout | images/s | ms/step | time / dice (quartiles) | FLOPs / dice |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, r in report["results"].items():
        objective, layout = name.split("/")
        ratio = report["over_dice_step_time"].get(name)
        ratio_text = (f"**{ratio['median']:.3f}x** ({ratio['q1']:.3f}-{ratio['q3']:.3f})"
                      if ratio else "1")
        flop_ratio = report["over_dice_flops"].get(objective, 1.0)
        lines.append(f"| {objective} | {layout} | {r['images_per_s']:.1f} | {r['step_ms']:.1f} | "
                     f"{ratio_text} | {flop_ratio:.3f}x |")
    flops = report["flops_per_step"]
    lines += ["", "Time ratios are medians of the step-by-step ratios to the dice step next in "
              "time. Floating-point operations per step (GFLOP, FlopCounterMode), student + "
              "teacher: " + "; ".join(
                  f"{name} {f['student_step'] / 1e9:.2f} + {f['teacher_forward'] / 1e9:.2f}"
                  for name, f in flops.items()) + ". The FLOP ratio is what the time ratio "
              "would be if every convolution ran equally fast.",
              "", "Phases of one step (median ms):", ""]
    phases = ["teacher forward", "student forward", "losses", "backward", "optimiser", "step"]
    lines += ["| step | " + " | ".join(phases) + " |", "|---|" + "---:|" * len(phases)]
    for name, p in report["phases_ms"].items():
        lines.append(f"| {name} | " + " | ".join(f"{p.get(k, 0.0):.1f}" for k in phases) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
