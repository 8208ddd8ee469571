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
    print(f"\nwrote {Path(args.out) / 'metrics.json'}, training_curves.png, evaluation/report.html "
          "and evaluation/overlays/")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from dskd.data.synthetic import write_synthetic_dataset

    if args.n < 1 or args.size < 32:
        raise DskdError(f"--n must be >= 1 and --size >= 32 (got n={args.n}, size={args.size})")
    out = write_synthetic_dataset(args.out, n=args.n, size=args.size, seed=args.seed,
                                  start=args.start, realism=args.realism)
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


def _protocol(args: argparse.Namespace):
    from dskd.metrics.suite import METRIC_GROUPS, Protocol

    groups = tuple(g.strip() for g in args.metrics.split(",") if g.strip())
    unknown = [g for g in groups if g not in METRIC_GROUPS]
    if unknown or not groups:
        raise DskdError(f"--metrics {args.metrics}: unknown group '{unknown[0] if unknown else ''}'; "
                        f"valid: {', '.join(METRIC_GROUPS)}")
    return Protocol(connectivity=args.connectivity, empty_policy=args.empty_policy,
                    zero_division=args.zero_division, groups=groups, spacing_mm=_spacing(args.spacing))


def _spacing(text: str | None) -> tuple[float, float] | None:
    """--spacing: "0.3" (square pixels), "0.3,0.25" (row, column) in mm, or a DICOM file whose
    pixel spacing applies (dskd.data.media.dicom_pixel_spacing)."""
    if text is None:
        return None
    from dskd.data.media import dicom_pixel_spacing, is_dicom

    if Path(text).is_file() and is_dicom(text):
        found = dicom_pixel_spacing(text)
        if found is None:
            raise DskdError(f"--spacing {text}: the file states no PixelSpacing or ImagerPixelSpacing; "
                            "give the spacing in mm instead")
        log.info("pixel spacing %.4f x %.4f mm from %s (%s)", *found.spacing, text, found.source)
        return found.spacing
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not all(0 < v < float("inf") for v in values):
        raise DskdError(f"--spacing {text}: expected millimetres per pixel, e.g. 0.3 or 0.3,0.25 "
                        "(row, column), or a DICOM file to read it from")
    return values[0], values[1]


def _set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def _check_device(name: str) -> None:
    """--device as one line (exit 2) when it names no device here, before any work."""
    from dskd.inference.backends import parse_device

    parse_device(name)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    model_mode, folder_mode = args.checkpoint is not None, args.pred is not None
    if model_mode == folder_mode or (model_mode and not args.data) or (folder_mode and not args.labels):
        raise DskdError("give --checkpoint CKPT --data PATH (a model on a dataset), or --pred DIR "
                        "--labels DIR (masks made by any tool)")
    if model_mode and (args.pred_threshold is not None or args.images or args.labels):
        raise DskdError("--labels, --images and --pred-threshold go with --pred, not --checkpoint")
    if folder_mode and (args.threshold is not None or args.split_file):
        raise DskdError("--threshold and --split-file go with --checkpoint; with --pred use --pred-threshold")
    protocol, report = _protocol(args), not args.no_report
    if model_mode:
        _check_device(args.device)
    _set_threads(args.threads)
    if model_mode:
        from dskd.evaluation.evaluate import evaluate_checkpoint

        summary = evaluate_checkpoint(args.checkpoint, args.data, args.out, layout=args.layout,
                                      split_file=args.split_file, split_part=args.split,
                                      device=args.device, overlays=args.overlays,
                                      threshold=args.threshold, fov_dir=args.fov,
                                      fov_suffix=args.fov_suffix, protocol=protocol, report=report,
                                      tta=args.tta)
    else:
        from dskd.evaluation.folders import evaluate_folders

        summary = evaluate_folders(args.pred, args.labels, args.out, fov_dir=args.fov,
                                   images_dir=args.images, pred_suffix=args.pred_suffix,
                                   label_suffix=args.label_suffix, fov_suffix=args.fov_suffix,
                                   image_suffix=args.image_suffix,
                                   probability_threshold=args.pred_threshold, protocol=protocol,
                                   overlays=args.overlays, report=report)
    threshold = summary.threshold
    print(f"{summary.n_images} images, threshold "
          f"{'external' if threshold is None else f'{threshold:.2f}'} ({summary.threshold_policy})")
    print(f"{'metric':<18} {'mean':>8} {'std':>8} {'pooled':>8}")
    for name, stats in summary.per_image.items():
        values = (stats.mean, stats.std, summary.pooled.get(name))
        cells = [f"{v:>8.4f}" if v is not None else f"{'-':>8}" for v in values]
        print(f"{name:<18} {' '.join(cells)}")
    if any(g in protocol.groups for g in ("distance", "width")):
        print(f"hd95, assd and width_* are in {'mm' if protocol.spacing_mm else 'pixels'}"
              + (f" (pixel spacing {protocol.spacing_mm[0]:g} x {protocol.spacing_mm[1]:g} mm)"
                 if protocol.spacing_mm else "; give --spacing MM for millimetres"))
    print(f"wrote {Path(args.out) / 'per_image.csv'}, summary.json"
          + (", report.html" if report else ""))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from dskd.evaluation.compare import compare_runs, format_markdown, write_comparison

    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    result, runs = compare_runs(args.runs, labels=args.labels, metrics=metrics,
                                confidence=args.confidence, n_resamples=args.resamples, seed=args.seed)
    print(format_markdown(result))
    if args.out:
        write_comparison(result, runs, args.out, report=not args.no_report)
        print(f"wrote {Path(args.out) / 'comparison.md'}, comparison.json"
              + ("" if args.no_report else ", report.html"))
    return 0


def _cmd_threshold_sweep(args: argparse.Namespace) -> int:
    from dskd.evaluation.sweep import sweep_checkpoint

    _check_device(args.device)
    _set_threads(args.threads)
    result = sweep_checkpoint(args.checkpoint, args.out, data_root=args.data, layout=args.layout,
                              split_file=args.split_file, split_part=args.split, device=args.device,
                              step=args.step, store=args.store)
    print(f"threshold {result['chosen_threshold']:.2f} (per-image mean Dice "
          f"{result['dice_mean_at_chosen']:.4f}) on {result['n_images']} images: {result['images']}")
    print(f"wrote {Path(args.out) / 'threshold_sweep.csv'}, .json, .png"
          + (f"; checkpoint with this threshold: {args.store}" if args.store else ""))
    return 0


def _add_evaluation_commands(sub: argparse._SubParsersAction) -> None:
    """evaluate, compare and threshold-sweep (docs/evaluation.md)."""
    p = sub.add_parser("evaluate", help="score a checkpoint on a dataset, or masks from any tool")
    p.add_argument("--out", required=True)
    model = p.add_argument_group("a model on a dataset")
    model.add_argument("--checkpoint", action="append", default=None,
                       help="a checkpoint; repeat it to score the mean of several (an ensemble, e.g. "
                            "the fold models of a cross-validation)")
    model.add_argument("--tta", nargs="?", const="flips", default="none",
                       choices=["none", "flips", "dihedral"],
                       help="test-time augmentation: the 4 flips (--tta), or all 8 symmetries")
    model.add_argument("--data", help="dataset folder")
    model.add_argument("--layout", default="folder", help="dataset layout (default: folder)")
    model.add_argument("--split-file", default=None, help="JSON split file; scores one part of it")
    model.add_argument("--split", default="test", help="part of the split file to score (default: test)")
    model.add_argument("--threshold", type=float, default=None,
                       help="override the checkpoint's threshold (policy: fixed)")
    model.add_argument("--device", default="cpu")
    model.add_argument("--threads", type=int, default=0,
                       help="torch CPU threads for the model (default 0: torch's choice)")
    masks = p.add_argument_group("masks made by any tool, matched to labels by file name")
    masks.add_argument("--pred", help="folder of binary masks (0/1 or 0/255)")
    masks.add_argument("--labels", help="folder of label masks")
    masks.add_argument("--images", default=None, help="folder of the angiograms (for overlays only)")
    masks.add_argument("--pred-threshold", type=float, default=None,
                       help="--pred holds probability maps: binarise at this value, also score AUC/AP")
    masks.add_argument("--pred-suffix", default="", help="removed from prediction names before matching")
    masks.add_argument("--label-suffix", default="", help="e.g. _gt: 7_gt.png matches 7.png")
    masks.add_argument("--image-suffix", default="")
    both = p.add_argument_group("protocol")
    both.add_argument("--fov", default=None, help="folder of field-of-view masks; outside pixels not counted")
    both.add_argument("--fov-suffix", default="", help="removed from field-of-view names before matching")
    both.add_argument("--connectivity", type=int, choices=(4, 8), default=8,
                      help="pixel connectivity of components for Betti numbers (default: 8)")
    both.add_argument("--empty-policy", choices=("diagonal", "nan"), default="diagonal",
                      help="HD95/ASSD when exactly one mask is empty (default: the image diagonal)")
    both.add_argument("--zero-division", type=float, default=1.0,
                      help="value of a ratio with nothing to count, e.g. Dice of two empty masks (default 1)")
    both.add_argument("--metrics", default="overlap,probabilistic,topology,distance,width",
                      help="metric groups to compute (default: all)")
    both.add_argument("--spacing", default=None, metavar="MM",
                      help="pixel spacing in mm (0.3, or ROW,COL, or a DICOM file to read it from): "
                           "HD95, ASSD and vessel widths in mm (default: in pixels)")
    both.add_argument("--overlays", action="store_true", help="write overlay PNGs even with --no-report")
    both.add_argument("--no-report", action="store_true", help="skip the HTML report and its figures")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("compare", help="paired statistics of evaluations of the same images")
    p.add_argument("runs", nargs="+", help="folders written by `dskd evaluate`; the first is the baseline")
    p.add_argument("--out", default=None, help="write comparison.md, comparison.json and report.html here")
    p.add_argument("--labels", nargs="+", default=None, help="one name per run (default: folder names)")
    p.add_argument("--metrics", default=None, help="comma-separated metrics (default: all in every run)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report and its figures")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("threshold-sweep", help="choose a threshold on a validation split")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None,
                   help="validation images (default: the checkpoint's own validation split)")
    p.add_argument("--layout", default="folder")
    p.add_argument("--split-file", default=None)
    p.add_argument("--split", default="val", help="part of the split file (default: val; test is refused)")
    p.add_argument("--step", type=float, default=0.05, help="grid step (default 0.05: 0.05..0.95)")
    p.add_argument("--store", default=None, help="write a copy of the checkpoint carrying the threshold")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    p.set_defaults(func=_cmd_threshold_sweep)


def _cmd_ablate(args: argparse.Namespace) -> int:
    if (args.grid is None) == (args.table is None) or (args.grid and not args.out):
        raise DskdError("give --grid GRID.yaml --out DIR (run a grid), or --table DIR (tabulate the "
                        "result files in DIR or DIR/results)")
    if args.table:
        from dskd.evaluation.ablate.report import write_table
        from dskd.evaluation.ablate.results import read_results
        from dskd.evaluation.ablate.table import ablation_table, format_markdown

        result = ablation_table(read_results(args.table), reference=args.reference,
                                figures=args.figures)
        print(format_markdown(result))
        out = write_table(result, args.out or args.table)
        print(f"wrote {out / 'table.md'}, table.json, table.html, forest.png")
        return 0
    from dskd.evaluation.ablate.grid import read_grid
    from dskd.evaluation.ablate.runner import format_plan, run_grid

    grid = read_grid(args.grid)
    planned, failures = run_grid(grid, args.out, jobs=args.jobs, threads=args.threads,
                                 results=args.results, launcher=args.launcher,
                                 score_only=args.score_only, dry_run=args.dry_run,
                                 partition=args.partition, timeout_min=args.timeout_min)
    print(format_plan(grid, planned, args.out))
    for line in failures:
        print(f"dskd: failed: {line}", file=sys.stderr)
    return 1 if failures else 0


def _add_ablate_command(sub: argparse._SubParsersAction) -> None:
    """ablate (docs/reproduction.md)."""
    p = sub.add_parser("ablate", help="run a cross-validated ablation grid, or tabulate its results")
    p.add_argument("--grid", default=None, help="grid file (benchmarks/ablations/*.yaml)")
    p.add_argument("--out", default=None,
                   help="--grid: folder of the runs (runs/<variant>/fold<k>-seed<s>) and results/; "
                        "--table: where to write the table (default: the --table folder)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per run (default: this machine's cores / --jobs; "
                        "slurm: 1 CPU per job)")
    p.add_argument("--results", default=None, help="folder of the result JSONs (default: OUT/results)")
    p.add_argument("--launcher", choices=("local", "slurm"), default="local",
                   help="local: a pool of --jobs processes; slurm: a submitit job array")
    p.add_argument("--partition", default=None, help="slurm: the partition to submit to")
    p.add_argument("--timeout-min", type=int, default=24 * 60, help="slurm: time limit of each run")
    p.add_argument("--score-only", action="store_true",
                   help="train nothing: score the finished runs that have no result yet")
    p.add_argument("--dry-run", action="store_true", help="show what each run needs; run nothing")
    p.add_argument("--table", default=None, metavar="DIR",
                   help="tabulate the result files in DIR (an ablate --out folder or its results/)")
    p.add_argument("--reference", default=None, help="--table: the reference variant (default: the grid's)")
    p.add_argument("--figures", choices=("primary", "secondary"), default="primary",
                   help="--table: primary (last.pt at 0.5, default) or secondary (best.pt, its threshold)")
    p.set_defaults(func=_cmd_ablate)


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from dskd.deploy.predict import predict_files

    if args.threads < 0:
        raise DskdError(f"--threads {args.threads} must be >= 0 (0: the library's default)")
    if args.threads and args.backend == "torch":
        torch.set_num_threads(args.threads)
    report = predict_files(args.checkpoint, args.inputs, args.out, backend=args.backend,
                           threshold=args.threshold, device=args.device, amp=args.amp,
                           channels_last=args.channels_last, threads=args.threads, tta=args.tta,
                           window=args.window, probabilities=args.probabilities,
                           overlays=not args.no_overlays, video=args.video, dicom_seg=args.dicom_seg)
    rate = report.n_frames / max(report.seconds, 1e-9)
    # Frames count what was done, those of a file that failed part-way too (their summary rows stay).
    print(f"{report.n_frames} frames predicted ({rate:.1f} frames/s); outputs of {report.n_files} "
          f"files and summary.csv in {args.out}")
    if report.failures:
        print(f"{len(report.failures)} file(s) failed and were skipped; see {Path(args.out) / 'failed.txt'}",
              file=sys.stderr)
        return 1
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from dskd.deploy.export import export_onnx

    out = export_onnx(args.checkpoint, args.out, check=not args.no_check)
    checked = "" if args.no_check else ", checked against PyTorch at two sizes and batch sizes"
    print(f"wrote {out} (dynamic batch, height and width; probabilities out{checked})")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import os

    try:
        from dskd.deploy.serve.app import run_server
    except ImportError as error:
        raise DskdError(f"dskd serve needs the serve extra ({error.name} is missing): "
                        "pip install 'dskd[serve]'") from None
    from dskd.deploy.serve import ServeSettings

    _set_threads(args.threads if args.backend == "torch" else 0)
    settings = ServeSettings(
        model=Path(args.checkpoint), backend=args.backend, device=args.device, threads=args.threads,
        host=args.host, port=args.port, token=args.token or os.environ.get("DSKD_SERVE_TOKEN") or None,
        max_upload_mb=args.max_upload_mb, max_frames=args.max_frames, max_side=args.max_side,
        max_concurrent=args.max_concurrent, queue=args.queue, timeout_s=args.timeout,
        window=args.window or None, evaluation=Path(args.evaluation) if args.evaluation else None)
    run_server(settings)
    return 0


# --- dskd data: download and check datasets (src/dskd/data/download.py, readers/, splits.py) ---

def _cmd_data_download(args: argparse.Namespace) -> int:
    from dskd.data.download import download_dataset

    folder = download_dataset(args.dataset, args.dest, url=args.url, sha256=args.sha256,
                              verify=not args.no_verify, force=args.force, timeout=args.timeout)
    print(f"{args.dataset} is ready in {folder}")
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from dskd.data.cases import load_case
    from dskd.data.readers import read_cases
    from dskd.data.splits import read_split_file, resolve_split

    if args.resolve and not args.split_file:
        raise DskdError("--resolve writes a split file's parts as names; give --split-file too")
    cases = read_cases(args.layout, args.root)
    sizes = set()
    for case in tqdm(cases, desc="check", unit="img", disable=None, leave=False):
        sizes.add(load_case(case).image.shape)  # reads every file: unreadable ones fail here
    labelled = sum(c.mask is not None for c in cases)
    with_fov = sum(c.fov is not None for c in cases)
    shapes = ", ".join(f"{w}x{h}" for h, w in sorted(sizes))
    print(f"{len(cases)} cases ({labelled} labelled, {with_fov} with a field of view), sizes {shapes}")
    if args.split_file:
        parts = resolve_split(cases, read_split_file(args.split_file))
        print(", ".join(f"{part}: {len(names)}" for part, names in parts.items()))
        if args.resolve:
            Path(args.resolve).write_text(json.dumps(parts, indent=1) + "\n")
            print(f"wrote the split as case names to {args.resolve}")
    return 0


def _cmd_data_export_nnunet(args: argparse.Namespace) -> int:
    from dskd.data.nnunet_export import export_nnunet

    result = export_nnunet(args.layout, args.root, args.out, dataset_id=args.dataset_id,
                           split_file=args.split_file, name=args.name)
    print(f"wrote {result.folder}: {result.n_training} training cases, {result.n_test} test cases")
    return 0


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="download and check datasets").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("download", help="download, verify and unpack a dataset's official archive")
    p.add_argument("dataset", help="dca1 (xcad: prints how to obtain it)")
    p.add_argument("--dest", required=True, help="folder to unpack into")
    p.add_argument("--url", default=None, help="archive URL (default: the best-known official one)")
    p.add_argument("--sha256", default=None, help="expected SHA-256 of the archive (default: known one)")
    p.add_argument("--no-verify", action="store_true", help="skip the checksum (zip still checked)")
    p.add_argument("--force", action="store_true", help="download and unpack again")
    p.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    p.set_defaults(func=_cmd_data_download)
    p = data.add_parser("check", help="read every case of a dataset and apply a split file")
    p.add_argument("root", help="dataset folder")
    p.add_argument("--layout", default="folder", help="dataset layout (docs/datasets.md)")
    p.add_argument("--split-file", default=None, help="JSON split file to apply")
    p.add_argument("--resolve", default=None, metavar="OUT.json",
                   help="write the split with every part as case names")
    p.set_defaults(func=_cmd_data_check)
    p = data.add_parser("export-nnunet", help="write a dataset and its split as an nnU-Net v2 raw dataset")
    p.add_argument("--layout", default="folder", help="dataset layout (docs/datasets.md)")
    p.add_argument("--root", required=True, help="dataset folder")
    p.add_argument("--split-file", default=None,
                   help="train + val -> imagesTr (and splits_final.json), test -> imagesTs")
    p.add_argument("--dataset-id", type=int, required=True, help="nnU-Net dataset id, 1..999")
    p.add_argument("--name", default=None, help="dataset name (default: the layout's name)")
    p.add_argument("--out", required=True, help="folder to write Dataset<NNN>_<name>/ into (nnUNet_raw)")
    p.set_defaults(func=_cmd_data_export_nnunet)


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

    _add_evaluation_commands(sub)
    _add_ablate_command(sub)

    p = sub.add_parser("predict", help="masks, overlays, videos for images, DICOM runs, folders, globs")
    p.add_argument("--checkpoint", required=True, action="append",
                   help="a .pt checkpoint, or a .onnx from dskd export; repeat it for an ensemble "
                        "(the mean of the models' probabilities)")
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
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="torch backend: channels-last memory layout (default; 1.5-2x faster on CPUs)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default 0: the library's choice)")
    p.add_argument("--tta", nargs="?", const="flips", default="none",
                   choices=["none", "flips", "dihedral"],
                   help="test-time augmentation: the 4 flips (--tta; 4x slower), or all 8 symmetries")
    p.add_argument("--window", type=int, default=512,
                   help="tile images with a side above this many pixels (default 512; 0: never tile)")
    p.add_argument("--probabilities", action="store_true", help="also write probability maps")
    p.add_argument("--no-overlays", action="store_true", help="no overlay PNGs for single images")
    p.add_argument("--video", choices=["mp4", "gif"], default=None,
                   help="an overlay video per multi-frame input (mp4 needs imageio-ffmpeg)")
    p.add_argument("--dicom-seg", action="store_true",
                   help="DICOM inputs: also the mask as DICOM (SEG for one frame, Secondary Capture "
                        "for a cine; docs/inference.md)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export", help="export a checkpoint to ONNX (dynamic batch, height, width)")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--no-check", action="store_true",
                   help="skip comparing ONNX Runtime with PyTorch after export")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("serve", help="a web page and an HTTP API that segment angiograms (docs/serve.md)")
    p.add_argument("--checkpoint", required=True, help="a .pt checkpoint, or a .onnx from dskd export")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; any other needs --token)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token", default=None,
                   help="bearer token every /v1 call must carry (default: $DSKD_SERVE_TOKEN)")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    p.add_argument("--device", default="cpu", help="torch backend: cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default 0: the library's choice)")
    p.add_argument("--window", type=int, default=512,
                   help="tile images with a side above this, as dskd predict (default 512; 0: never)")
    p.add_argument("--max-upload-mb", type=float, default=256.0, help="largest upload (default 256)")
    p.add_argument("--max-frames", type=int, default=500, help="most frames per request (default 500)")
    p.add_argument("--max-side", type=int, default=4096, help="longest image side in pixels (default 4096)")
    p.add_argument("--max-concurrent", type=int, default=1, help="inferences at once (default 1)")
    p.add_argument("--queue", type=int, default=8,
                   help="requests waiting for an inference; beyond them 429 (default 8)")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="seconds for a whole request: upload, wait, inference (default 180)")
    p.add_argument("--evaluation", default=None, metavar="SUMMARY.json",
                   help="summary.json of dskd evaluate on this model: test figures in the model card")
    p.set_defaults(func=_cmd_serve)
    _add_data_commands(sub)
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
