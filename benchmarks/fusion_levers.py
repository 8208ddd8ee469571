"""Where a frame's time goes, and what fusing the ReLUs into the convolutions saves (issue 31).

The network alone (no pre- or post-processing), a depth-4 U-Net at --width with BatchNorm
statistics away from the identity, one 512x512 frame, channels-last:
- a profile (torch.profiler, --profile-threads threads) of the bf16 frame folded (BatchNorm in
  the convolutions, as before the fusion) and fused (each ReLU as its convolution's oneDNN
  post-op: dskd.inference.fusion, what `dskd predict` runs in bf16 on a CPU): each op's share;
- timings, the settings in turn (one frame each per round), medians of --rounds: float32 as
  trained against float32 with the ReLUs fused (logits compared bit for bit), bf16 autocast
  folded against fused, and, where it runs, TorchScript's oneDNN Graph fuser on the folded
  network under bf16 autocast (which also fuses the concatenations and pooling).

    python benchmarks/fusion_levers.py --width 16 --out benchmarks/results/fusion-levers
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from dskd.inference.fusion import fold_batch_norm, fuse_conv_relu
from dskd.models.unet import UNet

sys.path.insert(0, str(Path(__file__).parent))
from inference import machine, time_interleaved  # noqa: E402

OUT = Path(__file__).parent / "results" / "fusion-levers"


def network(width: int) -> nn.Module:
    """A depth-4 U-Net in eval mode whose BatchNorms are not the identity (as after training)."""
    torch.manual_seed(0)
    model = UNet(depth=4, width=width).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 2)
    return model.to(memory_format=torch.channels_last)


def settings(model: nn.Module, frame: torch.Tensor) -> dict:
    """{name: a call that runs the network once on `frame`}."""
    folded = fold_batch_norm(model)
    fused32 = fuse_conv_relu(model)
    fused16 = fuse_conv_relu(folded).to(torch.bfloat16)
    frame16 = frame.to(torch.bfloat16)

    def autocast(net):
        def run():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return net(frame, with_side_outputs=False).logits.float()
        return run

    calls = {
        "float32": lambda: model(frame, with_side_outputs=False).logits,
        "float32 fused ReLU": lambda: fused32(frame, with_side_outputs=False).logits,
        "bf16 folded": autocast(folded),
        "bf16 fused ReLU": lambda: fused16(frame16, with_side_outputs=False).logits.float(),
    }
    graph = _onednn_graph(folded, frame)
    if graph is not None:
        calls["bf16 folded, TorchScript oneDNN Graph"] = graph
    return calls


def _onednn_graph(folded: nn.Module, frame: torch.Tensor):
    """The folded network traced and frozen with TorchScript's oneDNN Graph fuser, or None where
    this torch build cannot (the fuser is optional and TorchScript is in maintenance)."""

    class Logits(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x, with_side_outputs=False).logits

    try:
        torch.jit.enable_onednn_fusion(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the trace's note on the size check, a constant here
            traced = torch.jit.freeze(torch.jit.trace(Logits(folded).eval(), frame, check_trace=False))
            for _ in range(3):  # the profiling executor fuses after its first runs
                traced(frame)
    except Exception as error:  # noqa: BLE001 - any failure means: not available here
        print(f"oneDNN Graph not timed: {type(error).__name__}: {str(error)[:120]}", file=sys.stderr)
        return None

    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
            return traced(frame).float()
    return run


def profile_shares(call, rounds: int = 3) -> dict[str, float]:
    """{op: share of the self CPU time} over `rounds` calls, the ops above 1%."""
    from torch.profiler import ProfilerActivity, profile

    call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(rounds):
            call()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    shares = {e.key: e.self_cpu_time_total / total for e in events}
    return {k: round(v, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v >= 0.01}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=16, help="U-Net width (default 16)")
    parser.add_argument("--size", type=int, default=512, help="frame side in px (default 512)")
    parser.add_argument("--threads", type=int, default=2, help="threads for the timings (default 2)")
    parser.add_argument("--profile-threads", type=int, default=1, help="threads for the profile (default 1)")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output prefix (default {OUT})")
    args = parser.parse_args(argv)
    model = network(args.width)
    frame = torch.randn(1, 1, args.size, args.size).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        calls = settings(model, frame)
        torch.set_num_threads(args.profile_threads)
        profiles = {name: profile_shares(calls[name]) for name in ("bf16 folded", "bf16 fused ReLU")}
        torch.set_num_threads(args.threads)
        same = torch.equal(calls["float32"](), calls["float32 fused ReLU"]())
        folded = calls["bf16 folded"]()
        differences = {name: float((calls[name]() - folded).abs().max()) for name in calls
                       if name.startswith("bf16") and name != "bf16 folded"}
        timed = time_interleaved(calls, warmup=2, frames=args.rounds, budget_s=float("inf"))
        ms = {name: round(1000 * statistics.median(seconds), 1) for name, seconds in timed.items()}
    command = "python benchmarks/fusion_levers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report = {"command": command, **machine(), "width": args.width, "size": args.size,
              "threads": args.threads, "profile_threads": args.profile_threads, "rounds": args.rounds,
              "float32_fused_logits_identical": same, "bf16_max_abs_logit_difference_to_folded": differences,
              "ms": ms, "profile_shares": profiles}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    title = f"# Fusing the ReLUs: where a {args.size}x{args.size} frame's time goes (width {args.width})"
    lines = [title, "",
             f"Command: `{report['command']}`; CPU {report['cpu']}, torch {report['torch']}; the network "
             "alone, channels-last.", "",
             f"## Median ms per frame, {args.threads} threads, settings in turn, {args.rounds} rounds", "",
             "| setting | ms |", "|---|---:|", *[f"| {k} | {v} |" for k, v in ms.items()], "",
             f"float32 logits with the ReLUs fused identical to the unfused ones: {same}. bf16 logits, "
             "largest difference to `bf16 folded`: "
             + "; ".join(f"{name} {value:.2g}" for name, value in differences.items()) + ".", "",
             f"## Share of the self CPU time by op, bf16, {args.profile_threads} thread(s) (torch.profiler)",
             "",
             "| op | " + " | ".join(profiles) + " |", "|---|" + "---:|" * len(profiles)]
    ops = list(dict.fromkeys(op for shares in profiles.values() for op in shares))
    lines += [f"| {op} | " + " | ".join(f"{profiles[name].get(op, 0):.1%}" for name in profiles) + " |"
              for op in ops]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
