"""dskd demo, synth, pretrain and train."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dskd.errors import DskdError

__all__ = ["add_training_commands"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from dskd.demo import format_table, run_demo

    metrics = run_demo(args.out, overrides=args.set)
    print(f"\nDSKD on synthetic angiograms: {metrics['n_test_images']} held-out test images, "
          f"threshold {metrics['threshold']:.2f}, {metrics['seconds']:.0f}s in all")
    print(format_table(metrics))
    print(f"\nwrote {Path(args.out) / 'metrics.json'}, training_curves.png, evaluation/report.html "
          "and evaluation/overlays/")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from dskd.data.synthetic import write_synthetic_dataset

    if args.n < 1 or args.size < 32:
        raise DskdError(f"--n must be >= 1 and --size >= 32 (got n={args.n}, size={args.size})")
    if args.cine is not None:
        from dskd.data.synthetic.cine import write_synthetic_cines

        if args.cine < 2:
            raise DskdError(f"--cine {args.cine}: a cine has at least 2 frames")
        from dataclasses import replace

        from dskd.data.synthetic import style_for

        style = replace(style_for(args.realism), stenoses=args.stenoses)
        out = write_synthetic_cines(args.out, n=args.n, n_frames=args.cine, size=args.size, seed=args.seed,
                                    style=style)
        print(f"wrote {args.n} synthetic cines of {args.cine} frames to {out}/cines, their masks to "
              f"{out}/cine_masks and each one's true peak frame to {out}/cines.json")
        return 0
    style = None
    if args.stenoses:
        from dataclasses import replace

        from dskd.data.synthetic import style_for

        style = replace(style_for(args.realism), stenoses=args.stenoses)
    out = write_synthetic_dataset(args.out, n=args.n, size=args.size, seed=args.seed,
                                  start=args.start, realism=args.realism, style=style)
    print(f"wrote {args.n} synthetic angiograms ({args.realism}) to {out}/images and {out}/masks")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import os

    from dskd.config import load_config
    from dskd.training.distributed import process_group, world_from_env
    from dskd.training.fit import fit
    from dskd.training.setup import resolve_device

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


def _cmd_pretrain(args: argparse.Namespace) -> int:
    """`dskd train` on streamed synthetic angiograms: data.source=synthetic before any --set."""
    args.set = ["data.source=synthetic", *args.set]
    return _cmd_train(args)


def add_training_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthesise angiograms, train DSKD, evaluate (a few minutes)")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set optim.epochs=4 (repeatable)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("synth", help="write a synthetic angiogram dataset (images/ and masks/)")
    p.add_argument("--out", required=True, help="folder for images/ and masks/ (created)")
    p.add_argument("--n", type=int, default=40, help="number of angiograms (default 40)")
    p.add_argument("--size", type=int, default=300, help="side of the square images in pixels (default 300)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed: image k of seed s is always the same (default 0)")
    p.add_argument("--stenoses", type=int, default=0, metavar="N",
                   help="up to N stenoses of 20-90%% per image on the wider arteries, in image and mask "
                        "(default 0; docs/qca.md)")
    p.add_argument("--cine", type=int, default=None, metavar="FRAMES",
                   help="write cine runs of this many frames instead (contrast wash-in and wash-out, "
                        "cardiac-like motion, the true peak frame in cines.json; default: still images)")
    p.add_argument("--start", type=int, default=0,
                   help="index of the first case (disjoint ranges of one seed never share an image)")
    p.add_argument("--realism", choices=["basic", "standard", "full"], default="standard",
                   help="basic: clean trees on a smooth background; standard: CIMAT-like "
                        "(docs/synthetic.md); full: more clutter, noise and spread")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("pretrain", help="train on synthetic angiograms generated on the fly "
                                        "(then: dskd train --set model.init=RUN/best.pt)")
    p.add_argument("--config", required=True,
                   help="YAML file (model, optim, data crops; the synthetic section: docs/synthetic.md)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set synthetic.realism=full (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("--config", required=True, help="YAML file (see configs/)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set loss.objective=dice (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.set_defaults(func=_cmd_train)
