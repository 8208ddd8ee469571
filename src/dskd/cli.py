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
    from dskd.config import load_config
    from dskd.train import fit

    config = load_config(args.config, args.set)
    best = fit(config, args.out, resume=args.resume)
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
    import torch

    from dskd.predict import predict_files

    if args.threads < 0:
        raise DskdError(f"--threads {args.threads} must be >= 0 (0: the library's default)")
    if args.threads and args.backend == "torch":
        torch.set_num_threads(args.threads)
    report = predict_files(args.checkpoint, args.inputs, args.out, backend=args.backend,
                           threshold=args.threshold, device=args.device, amp=args.amp,
                           channels_last=args.channels_last, threads=args.threads, tta=args.tta,
                           window=args.window, probabilities=args.probabilities,
                           overlays=not args.no_overlays, video=args.video)
    rate = report.n_frames / max(report.seconds, 1e-9)
    print(f"wrote outputs of {report.n_files} files ({report.n_frames} frames, {rate:.1f} frames/s) "
          f"and summary.csv to {args.out}")
    if report.failures:
        print(f"{len(report.failures)} file(s) failed and were skipped; see {Path(args.out) / 'failed.txt'}",
              file=sys.stderr)
        return 1
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from dskd.export import export_onnx

    out = export_onnx(args.checkpoint, args.out, check=not args.no_check)
    checked = "" if args.no_check else ", checked against PyTorch at two sizes and batch sizes"
    print(f"wrote {out} (dynamic batch, height and width; probabilities out{checked})")
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

    p = sub.add_parser("predict", help="masks, overlays, videos for images, DICOM runs, folders, globs")
    p.add_argument("--checkpoint", required=True, help="a .pt checkpoint, or a .onnx from dskd export")
    p.add_argument("inputs", nargs="+",
                   help="PNG/JPEG/TIFF/PGM/PPM/BMP/DICOM files, folders (recursive), globs ('**' recurses)")
    p.add_argument("--out", required=True)
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                   help="onnxruntime runs a .onnx model on the CPU (default: torch)")
    p.add_argument("--threshold", type=float, default=None,
                   help="override the checkpoint's threshold")
    p.add_argument("--device", default="cpu", help="torch backend: cpu or cuda (default: cpu)")
    p.add_argument("--amp", action="store_true",
                   help="torch backend: bf16 autocast (for GPUs; slow on CPUs without bf16 units)")
    p.add_argument("--channels-last", action="store_true", help="torch backend: channels-last memory layout")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default 0: the library's choice)")
    p.add_argument("--tta", action="store_true", help="average over the four flips (4x slower)")
    p.add_argument("--window", type=int, default=512,
                   help="tile images with a side above this many pixels (default 512; 0: never tile)")
    p.add_argument("--probabilities", action="store_true", help="also write probability maps")
    p.add_argument("--no-overlays", action="store_true", help="no overlay PNGs for single images")
    p.add_argument("--video", choices=["mp4", "gif"], default=None,
                   help="an overlay video per multi-frame input (mp4 needs imageio-ffmpeg)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export", help="export a checkpoint to ONNX (dynamic batch, height, width)")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--no-check", action="store_true",
                   help="skip comparing ONNX Runtime with PyTorch after export")
    p.set_defaults(func=_cmd_export)
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
