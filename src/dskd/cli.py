"""dskd: Deep Self-knowledge Distillation for coronary artery segmentation.

The `dskd` command: argument parsing, logging set-up, and user errors as one line + exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from dskd import __version__
from dskd.errors import DskdError

__all__ = ["main", "build_parser"]

log = logging.getLogger("dskd")


def _cmd_demo(args: argparse.Namespace) -> int:
    from dskd.demo import format_table, run_demo

    metrics = run_demo(args.out, overrides=args.set)
    print(f"\nDSKD on synthetic angiograms: {metrics['n_test_images']} held-out test images, "
          f"threshold {metrics['threshold']:.2f}, {metrics['seconds']:.0f}s in all")
    print(format_table(metrics))
    print(f"\nwrote {Path(args.out) / 'metrics.json'}, training_curves.png, evaluation/overlays/")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from dskd.data.synthetic import write_synthetic_dataset

    if args.n < 1 or args.size < 32:
        raise DskdError(f"--n must be >= 1 and --size >= 32 (got n={args.n}, size={args.size})")
    out = write_synthetic_dataset(args.out, n=args.n, size=args.size, seed=args.seed)
    print(f"wrote {args.n} synthetic angiograms to {out}/images and {out}/masks")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import os

    from dskd.config import load_config
    from dskd.distributed import process_group, world_from_env
    from dskd.train import fit, resolve_device

    config = load_config(args.config, args.set)
    # Started by torchrun (docs/training.md): join its process group; otherwise a single process.
    launched = world_from_env(os.environ)
    cuda = resolve_device(config.run.device).type == "cuda"
    with process_group(launched, backend=config.run.dist_backend, cuda=cuda) as world:
        if not world.is_main:  # one log for the run: the other processes report only problems
            logging.getLogger().setLevel(logging.WARNING)
        best = fit(config, args.out, resume=args.resume, world=world)
    if world.is_main:
        print(f"best checkpoint: {best}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from dskd.evaluate import evaluate_checkpoint

    summary = evaluate_checkpoint(args.checkpoint, args.data, args.out, layout=args.layout,
                                  split_file=args.split_file, split_part=args.split,
                                  device=args.device, overlays=args.overlays)
    per_image, pooled = summary["per_image"], summary["pooled"]
    print(f"{summary['n_images']} images, threshold {summary['threshold']:.2f} "
          f"({summary['threshold_policy']})")
    print(f"{'metric':<12} {'mean':>7} {'std':>7} {'pooled':>7}")
    for name, stats in per_image.items():
        print(f"{name:<12} {stats['mean']:>7.4f} {stats['std']:>7.4f} {pooled[name]:>7.4f}")
    print(f"wrote {Path(args.out) / 'per_image.csv'} and summary.json")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from dskd.predict import predict_files

    written = predict_files(args.checkpoint, args.inputs, args.out, threshold=args.threshold,
                            device=args.device)
    print(f"wrote {len(written)} masks and overlays to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dskd", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dskd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="synthesise angiograms, train DSKD, evaluate (a few minutes)")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set optim.epochs=4 (repeatable)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("synth", help="write a synthetic angiogram dataset (images/ and masks/)")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--size", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("--config", required=True, help="YAML file (see configs/)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set loss.objective=dice (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a checkpoint on a labelled dataset")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--out", required=True)
    p.add_argument("--layout", default="folder", help="dataset layout (default: folder)")
    p.add_argument("--split-file", default=None, help="JSON split file; scores one part of it")
    p.add_argument("--split", default="test", help="part of the split file to score (default: test)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--overlays", action="store_true", help="also write overlay PNGs")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="binary masks and overlays for image files or folders")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True)
    p.add_argument("--threshold", type=float, default=None,
                   help="override the checkpoint's threshold")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except DskdError as error:
        print(f"dskd: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dskd: interrupted (a training run resumes with --resume)", file=sys.stderr)
        return 130
