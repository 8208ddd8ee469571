"""Inference speed of dskd models: frames/s per model and backend setting, against this machine's
ceilings (benchmarks/peak.py: a matrix-product peak per data type, a memory bandwidth), and (with
CUDA) batch throughput with AMP.

    python benchmarks/inference.py --configs depth=4,width=4 depth=4,width=8 depth=4,width=16 \\
        --checkpoints runs/cimat/best.pt --size 512 --out benchmarks/results/inference_cpu.md

Each model is given as a config (untrained weights: speed only) or a checkpoint (speed, and the
accuracy columns mean something). Per model, on one synthetic angiogram of --size x --size:
- `torch eager`: float32, NCHW, torch.no_grad(), as a model is usually run;
- `torch inference_mode`, `torch channels_last` (+ inference mode), `torch frozen` (TorchScript
  trace, freeze, optimize_for_inference: BatchNorm folded into the convolutions), `torch bf16`
  (channels-last + bf16 autocast: fast only on CPUs with bf16 units, AVX512-BF16 or AMX),
  `torch bf16 folded` (the same with each BatchNorm folded into its convolution), `torch bf16
  fused` (folded, and each ReLU run as its convolution's oneDNN post-op, weights in bf16: what
  `dskd predict` runs where bf16 is used on a CPU), `torch compiled` and `torch bf16 compiled`
  (the same through torch.compile, `--compile`; its compilation happens in the warm-up and is
  not timed);
- `onnxruntime`: the model exported as `dskd export` does, all graph optimisations on, the
  worker threads blocking between runs (dskd's setting); `onnxruntime spin-wait`: the same with
  ONNX Runtime's default, workers busy-waiting after each run.
A frame is timed end to end as `dskd predict` runs it (standardise, pad, network, crop), after
warm-up, the settings of a model in turn (one frame each per round, so a shared host's slow
spells fall on all of them alike; `onnxruntime spin-wait`, whose threads keep the cores after
each frame, alone after them); fps is 1 / median frame time. FLOPs are counted once per model with
torch.utils.flop_counter (convolutions and matrix products, 2 per multiply-add). "max |dp|" and
"mask px changed" compare a setting's probabilities with `torch eager` at threshold 0.5.

Each row is set against its own data type's measured peak (bf16 rows against the bf16 peak), and
against a roofline: the frame's time can be no less than its FLOPs at that peak, nor than its
activation traffic at the measured memory bandwidth. The traffic counts each convolution's input
and output once at the setting's element size (what a fused runtime must at least move); tensors
that stay in the last-level cache move faster, so a memory-bound row may beat its roofline, and
then says so rather than reading as a fraction of an arithmetic peak it could never approach.
The machine's load average is recorded with the results: numbers taken on a busy machine are low.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch.utils.flop_counter import FlopCounterMode

from dskd.checkpoint import load_model
from dskd.config import ModelConfig
from dskd.data.datasets import image_tensor
from dskd.data.synthetic import synth_angiogram
from dskd.deploy.export import export_model
from dskd.inference import frame_probabilities
from dskd.inference.backends import OnnxNet, TorchNet
from dskd.inference.machine import cpu_name
from dskd.models import build_model

REAL_TIME_FPS = 15.0
sys.path.insert(0, str(Path(__file__).parent))
from peak import ceilings, report_lines  # noqa: E402


class EagerNet:
    """The baseline: what `model(x)` under no_grad does, plus the sigmoid."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.size_multiple = model, model.size_multiple
        self.input_scale = model.input_scale

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.sigmoid(self.model(batch, with_side_outputs=False).logits)


class FrozenNet:
    """TorchScript trace -> freeze -> optimize_for_inference (folds BatchNorm, picks oneDNN)."""

    def __init__(self, model: torch.nn.Module, size: int) -> None:
        class Logits(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.inner(x, with_side_outputs=False).logits

        self.size_multiple, self.input_scale = model.size_multiple, model.input_scale
        example = torch.zeros(1, 1, size * model.input_scale, size * model.input_scale)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's note on the model's size check
            traced = torch.jit.trace(Logits(copy.deepcopy(model)).eval(), example).eval()
            self.module = torch.jit.optimize_for_inference(torch.jit.freeze(traced))

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return torch.sigmoid(self.module(batch))


def parse_config(text: str) -> ModelConfig:
    """'depth=4,width=8' -> ModelConfig(depth=4, width=8)."""
    values = dict(item.split("=", 1) for item in text.split(","))
    return ModelConfig(**{key: int(value) for key, value in values.items()})


def load_models(configs: list[str], checkpoints: list[str]) -> list[tuple[str, torch.nn.Module, bool]]:
    """(label, model in eval mode, trained?) for every config and checkpoint asked for."""
    models = []
    for text in configs:
        config = parse_config(text)
        torch.manual_seed(0)
        models.append((f"depth {config.depth}, width {config.width} (untrained)",
                       build_model(config).eval(), False))
    for path in checkpoints:
        model, config, _ = load_model(path)
        models.append((f"{path} (depth {config.model.depth}, width {config.model.width})", model, True))
    return models


def count_flops(model: torch.nn.Module, size: int) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, size, size), with_side_outputs=False)
    return float(counter.get_total_flops())


def time_calls(call: Callable[[], object], *, warmup: int, frames: int, budget_s: float,
               sync: Callable[[], None] = lambda: None) -> list[float]:
    """Seconds per call: `frames` calls after `warmup`, fewer (at least 3) past `budget_s`."""
    for _ in range(warmup):
        call()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < frames and (len(times) < 3 or time.perf_counter() - start < budget_s):
        tick = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - tick)
    return times


def time_interleaved(calls: dict[str, Callable[[], object]], *, warmup: int, frames: int,
                     budget_s: float) -> dict[str, list[float]]:
    """Seconds per call of each named call, timed in turn (one call of each per round): a shared
    host's slow spells then fall on every setting alike, so their ratios hold within a run even
    when the frame rates drift between runs. `frames` rounds after `warmup`, fewer (at least 3)
    past `budget_s` a setting."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    start, budget = time.perf_counter(), budget_s * len(calls)
    for round_ in range(frames):
        if round_ >= 3 and time.perf_counter() - start >= budget:
            break
        for name, call in calls.items():
            tick = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - tick)
    return times


def count_traffic(model: torch.nn.Module, size: int, element_bytes: int) -> float:
    """Bytes a frame must move at least: every convolution's input and output once."""
    moved = [0]

    def hook(_module, inputs, output):
        moved[0] += (inputs[0].numel() + output.numel()) * element_bytes

    convolutions = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, convolutions)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, size, size), with_side_outputs=False)
    finally:
        for handle in handles:
            handle.remove()
    return float(moved[0])


def setting_dtype(variant: str) -> str:
    return "bfloat16" if "bf16" in variant else "float32"


def roofline(flops: float, traffic: float, peak_gops: float, bandwidth_gbs: float) -> tuple[float, str]:
    """(least seconds per frame, "compute" or "memory": which ceiling sets it)."""
    compute, memory = flops / peak_gops / 1e9, traffic / bandwidth_gbs / 1e9
    return max(compute, memory), ("compute" if compute >= memory else "memory")


def cpu_variants(model: torch.nn.Module, size: int, workdir: Path, threads: int, *,
                 bf16: bool) -> dict[str, object]:
    cpu = torch.device("cpu")
    onnx_path = export_model(model, workdir / "model.onnx", check=False)
    variants = {
        "torch eager": EagerNet(model),
        "torch inference_mode": TorchNet(copy.deepcopy(model), cpu),
        "torch channels_last": TorchNet(copy.deepcopy(model), cpu, channels_last=True),
        "torch frozen": FrozenNet(model, size),
        "torch bf16 channels_last": TorchNet(copy.deepcopy(model), cpu, channels_last=True,
                                             autocast_dtype=torch.bfloat16),
        "torch bf16 folded channels_last": TorchNet(copy.deepcopy(model), cpu, channels_last=True,
                                                    autocast_dtype=torch.bfloat16, fold_batch_norm=True),
        "torch bf16 fused channels_last": TorchNet(copy.deepcopy(model), cpu, channels_last=True,
                                                   autocast_dtype=torch.bfloat16, fold_batch_norm=True,
                                                   fuse_relu=True),
        "torch compiled channels_last": TorchNet(copy.deepcopy(model), cpu, channels_last=True,
                                                 compile=True),
        "torch bf16 compiled channels_last": TorchNet(copy.deepcopy(model), cpu, channels_last=True,
                                                      autocast_dtype=torch.bfloat16, compile=True),
        "onnxruntime": OnnxNet(onnx_path, threads=threads),
        "onnxruntime spin-wait": OnnxNet(onnx_path, threads=threads, spin_wait=True),
    }
    if not bf16:
        for name in [name for name in variants if "bf16" in name]:
            del variants[name]
    return variants


def bench_cpu(models, args, limits: dict, *, bf16: bool) -> list[dict]:
    image = synth_angiogram(np.random.default_rng(0), args.size)[0]
    rows = []
    for label, model, trained in models:
        flops = count_flops(model, args.size)
        with tempfile.TemporaryDirectory() as workdir:
            variants = cpu_variants(model, args.size, Path(workdir), args.threads, bf16=bf16)
            reference = frame_probabilities(variants["torch eager"], image)
            chosen = {name: net for name, net in variants.items() if not args.only or name in args.only}
            calls = {name: (lambda net=net: frame_probabilities(net, image)) for name, net in chosen.items()}
            # A spinning ONNX Runtime session holds the cores after each frame, which would slow
            # whichever setting came next in the round: it is timed alone, after the others.
            alone = [name for name in calls if "spin-wait" in name]
            timed = time_interleaved({n: c for n, c in calls.items() if n not in alone},
                                     warmup=args.warmup, frames=args.frames, budget_s=args.budget)
            timed |= {name: time_calls(calls[name], warmup=args.warmup, frames=args.frames,
                                       budget_s=args.budget) for name in alone}
            for name, net in chosen.items():
                probs, times = frame_probabilities(net, image), timed[name]
                median = statistics.median(times)
                dtype = setting_dtype(name)
                peak = limits["peaks"][dtype]["measured"]["gops"]
                traffic = count_traffic(model, args.size, 2 if dtype == "bfloat16" else 4)
                least, bound = roofline(flops, traffic, peak, limits["bandwidth_gbs"])
                rows.append({
                    "model": label, "trained": trained, "variant": name, "size": args.size,
                    "gflop_per_frame": flops / 1e9, "frames_timed": len(times),
                    "fps": 1 / median, "ms_per_frame": 1000 * median,
                    "gflops": flops / median / 1e9, "dtype": dtype,
                    "peak_fraction": flops / median / 1e9 / peak,
                    "mb_per_frame": traffic / 2**20, "bound": bound, "roofline_fps": 1 / least,
                    "roofline_fraction": least / median,
                    "max_abs_dp": float(np.abs(probs - reference).max()),
                    "mask_changed": float(np.mean((probs >= 0.5) != (reference >= 0.5))),
                })
                print(f"{label:45s} {name:26s} {1 / median:7.2f} fps  {flops / median / 1e9:6.1f} GFLOP/s",
                      flush=True)
    return rows


def bench_gpu(models, args) -> list[dict]:
    """Batch throughput on CUDA: float32 and bf16/fp16 autocast, channels-last, batch 1..32."""
    device = torch.device("cuda")
    rows = []
    for label, model, _ in models:
        flops = count_flops(model, args.size)
        for dtype in (None, torch.bfloat16, torch.float16):
            net = TorchNet(copy.deepcopy(model), device, channels_last=True, autocast_dtype=dtype)
            for batch_size in args.gpu_batches:
                batch = image_tensor(synth_angiogram(np.random.default_rng(0), args.size)[0],
                                     net.size_multiple).repeat(batch_size, 1, 1, 1).to(device)
                times = time_calls(lambda net=net, batch=batch: net(batch), warmup=args.warmup,
                                   frames=args.frames, budget_s=args.budget, sync=torch.cuda.synchronize)
                median = statistics.median(times)
                rows.append({"model": label, "precision": str(dtype or "float32").replace("torch.", ""),
                             "batch": batch_size, "fps": batch_size / median,
                             "gflops": flops * batch_size / median / 1e9})
                print(f"{label:45s} {rows[-1]['precision']:9s} batch {batch_size:3d} "
                      f"{rows[-1]['fps']:9.1f} frames/s", flush=True)
    return rows


def machine() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def write_report(path: Path, info: dict, cpu_rows: list[dict], gpu_rows: list[dict]) -> None:
    lines = [
        f"# Inference speed at {info['size']}x{info['size']}",
        "",
        f"Command: `{info['command']}`  ",
        f"CPU: {info['cpu']}, {info['cores']} cores, torch {info['torch']} ({info['torch_threads']} "
        f"threads), onnxruntime {info['onnxruntime']}.  ",
        f"Load average before / after: {info['load_before']} / {info['load_after']} "
        "(above about 0.3 the machine was shared and the figures are low).  ",
        "",
        "## This machine's ceilings (benchmarks/peak.py, same threads)",
        "",
        *report_lines(info["ceilings"]),
        "",
        ("bf16 autocast is timed below." if info["bf16_timed"] else
         "bf16 is slower than float32 here (no bf16 units), so `torch bf16 channels_last` is not timed."),
        "",
        "| model | GFLOP/frame | setting | frames/s | ms/frame | GFLOP/s | % of own dtype's peak "
        "| MB moved/frame | roofline frames/s (bound) | % of roofline | max abs dp | mask px changed "
        "| >= 15 fps |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for r in cpu_rows:
        lines.append(f"| {r['model']} | {r['gflop_per_frame']:.2f} | {r['variant']} | {r['fps']:.2f} | "
                     f"{r['ms_per_frame']:.0f} | {r['gflops']:.1f} | {100 * r['peak_fraction']:.0f}% "
                     f"{r['dtype']} | {r['mb_per_frame']:.0f} | {r['roofline_fps']:.0f} ({r['bound']}) | "
                     f"{100 * r['roofline_fraction']:.0f}% | "
                     f"{r['max_abs_dp']:.1e} | {100 * r['mask_changed']:.3f}% | "
                     f"{'yes' if r['fps'] >= REAL_TIME_FPS else 'no'} |")
    lines += ["", "frames/s: 1 / median time of a whole frame (standardise, pad, network, crop) at batch 1.",
              "% of roofline: the roofline's least frame time over the measured one; above 100% the "
              "activations stayed in cache (the traffic count assumes they go to memory).",
              "max abs dp, mask px changed: against `torch eager` on the same image, threshold 0.5 "
              "(meaningful for trained checkpoints only)."]
    if gpu_rows:
        lines += ["", f"## GPU: {info['cuda']} (channels-last, batch throughput)", "",
                  "| model | precision | batch | frames/s | GFLOP/s |", "|---|---|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r['precision']} | {r['batch']} | {r['fps']:.1f} | {r['gflops']:.0f} |"
                  for r in gpu_rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps({**info, "cpu_rows": cpu_rows, "gpu_rows": gpu_rows},
                                                    indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=[], help="model configs, e.g. depth=4,width=8")
    parser.add_argument("--checkpoints", nargs="*", default=[], help="trained .pt checkpoints")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=30, help="timed frames per setting")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per setting at most")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", nargs="*", default=[], help="run only these settings (names as listed)")
    parser.add_argument("--gpu-batches", nargs="*", type=int, default=[1, 8, 32])
    parser.add_argument("--no-gpu", action="store_true")
    parser.add_argument("--peak-sizes", type=int, nargs="+", default=[512, 1024, 2048],
                        help="matrix sides tried for each data type's peak (benchmarks/peak.py)")
    parser.add_argument("--out", default="benchmarks/results/inference_cpu.md")
    args = parser.parse_args(argv)
    if not args.configs and not args.checkpoints:
        args.configs = ["depth=4,width=4", "depth=4,width=8", "depth=4,width=16"]
    torch.set_num_threads(args.threads)
    info = {**machine(), "size": args.size, "command": "python benchmarks/inference.py " +
            " ".join(sys.argv[1:] if argv is None else argv), "load_before": round(os.getloadavg()[0], 2)}
    info["ceilings"] = ceilings(args.threads, args.peak_sizes)
    torch.set_num_threads(args.threads)
    print("\n".join(report_lines(info["ceilings"])), flush=True)
    models = load_models(args.configs, args.checkpoints)
    # Without bf16 units a bf16 product is emulated, many times slower than fp32: the setting
    # cannot win, and at 512 px it would take minutes per frame. Measured, not read from flags.
    peaks = info["ceilings"]["peaks"]
    info["bf16_timed"] = (peaks["bfloat16"]["measured"]["gops"] or 0) > peaks["float32"]["measured"]["gops"]
    cpu_rows = bench_cpu(models, args, info["ceilings"], bf16=info["bf16_timed"])
    gpu_rows = bench_gpu(models, args) if torch.cuda.is_available() and not args.no_gpu else []
    info["load_after"] = round(os.getloadavg()[0], 2)
    write_report(Path(args.out), info, cpu_rows, gpu_rows)
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.json')}")


if __name__ == "__main__":
    main()
