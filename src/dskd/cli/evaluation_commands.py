"""dskd evaluate, compare, threshold-sweep and ablate (docs/evaluation.md, docs/reproduction.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dskd.cli.common import check_device, protocol_from_args, set_threads
from dskd.errors import DskdError
from dskd.writing import make_output_folder

__all__ = ["add_evaluation_commands"]


def _cmd_evaluate(args: argparse.Namespace) -> int:
    model_mode, folder_mode = args.checkpoint is not None, args.pred is not None
    if model_mode == folder_mode or (model_mode and not args.data) or (folder_mode and not args.labels):
        raise DskdError("give --checkpoint CKPT --data PATH (a model on a dataset), or --pred DIR "
                        "--labels DIR (masks made by any tool)")
    if model_mode and (args.pred_threshold is not None or args.images or args.labels):
        raise DskdError("--labels, --images and --pred-threshold go with --pred, not --checkpoint")
    if folder_mode and (args.threshold is not None or args.split_file):
        raise DskdError("--threshold and --split-file go with --checkpoint; with --pred use --pred-threshold")
    protocol, report = protocol_from_args(args), not args.no_report
    if model_mode:
        check_device(args.device)
    make_output_folder(args.out)  # before the scoring, so a bad --out loses no work
    set_threads(args.threads)
    if model_mode:
        from dskd.evaluation.evaluate import evaluate_checkpoint

        summary = evaluate_checkpoint(args.checkpoint, args.data, args.out, layout=args.layout,
                                      split_file=args.split_file, split_part=args.split,
                                      device=args.device, overlays=args.overlays,
                                      threshold=args.threshold, fov_dir=args.fov,
                                      fov_suffix=args.fov_suffix, protocol=protocol, report=report,
                                      tta=args.tta, ledger=args.ledger or os.environ.get("DSKD_TEST_LEDGER"))
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
    if any(g in protocol.groups for g in ("distance", "width", "diameter")):
        print(f"hd95, assd, width_* and diameter_error* are in {'mm' if protocol.spacing_mm else 'pixels'}"
              + (f" (pixel spacing {protocol.spacing_mm[0]:g} x {protocol.spacing_mm[1]:g} mm)"
                 if protocol.spacing_mm else "; give --spacing MM for millimetres"))
    print(f"wrote {Path(args.out) / 'per_image.csv'}, summary.json"
          + (", report.html" if report else ""))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from dskd.evaluation.compare import compare_runs, format_markdown, write_comparison

    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    if (args.replicates_a is None) != (args.replicates_b is None):
        raise DskdError("give --replicates-a and --replicates-b together (further seeds of both methods)")
    replicates = None if args.replicates_a is None else (args.replicates_a, args.replicates_b)
    result, runs = compare_runs(args.runs, labels=args.labels, metrics=metrics,
                                confidence=args.confidence, n_resamples=args.resamples, seed=args.seed,
                                replicates=replicates)
    print(format_markdown(result))
    if args.out:
        write_comparison(result, runs, args.out, report=not args.no_report)
        print(f"wrote {Path(args.out) / 'comparison.md'}, comparison.json"
              + ("" if args.no_report else ", report.html"))
    return 0


def _cmd_threshold_sweep(args: argparse.Namespace) -> int:
    from dskd.evaluation.sweep import sweep_checkpoint

    check_device(args.device)
    set_threads(args.threads)
    result = sweep_checkpoint(args.checkpoint, args.out, data_root=args.data, layout=args.layout,
                              split_file=args.split_file, split_part=args.split, device=args.device,
                              step=args.step, store=args.store)
    print(f"threshold {result['chosen_threshold']:.2f} (per-image mean Dice "
          f"{result['dice_mean_at_chosen']:.4f}) on {result['n_images']} images: {result['images']}")
    print(f"wrote {Path(args.out) / 'threshold_sweep.csv'}, .json, .png"
          + (f"; checkpoint with this threshold: {args.store}" if args.store else ""))
    return 0


def _add_evaluation_commands(sub: argparse._SubParsersAction) -> None:
    """dskd evaluate (docs/evaluation.md)."""
    p = sub.add_parser("evaluate", help="score a checkpoint on a dataset, or masks from any tool")
    p.add_argument("--out", required=True,
                   help="folder for per_image.csv, summary.json and report.html (created; checked first)")
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
    model.add_argument("--ledger", default=None, metavar="FILE",
                       help="test ledger that records this look when --split is test (default: "
                            "DSKD_TEST_LEDGER, else test-ledger.jsonl beside the split file)")
    model.add_argument("--threshold", type=float, default=None,
                       help="override the checkpoint's threshold (policy: fixed)")
    model.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (default cpu)")
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
    masks.add_argument("--image-suffix", default="",
                       help="removed from angiogram names before matching (default: none)")
    both = p.add_argument_group("protocol")
    both.add_argument("--fov", default=None, help="folder of field-of-view masks; outside pixels not counted")
    both.add_argument("--fov-suffix", default="", help="removed from field-of-view names before matching")
    both.add_argument("--connectivity", type=int, choices=(4, 8), default=8,
                      help="pixel connectivity of components for Betti numbers (default: 8)")
    both.add_argument("--empty-policy", choices=("diagonal", "nan"), default="diagonal",
                      help="HD95/ASSD when exactly one mask is empty (default: the image diagonal)")
    both.add_argument("--zero-division", type=float, default=1.0,
                      help="value of a ratio with nothing to count, e.g. Dice of two empty masks (default 1)")
    both.add_argument("--metrics", default="overlap,probabilistic,topology,distance,width,diameter",
                      help="metric groups to compute (default: all)")
    both.add_argument("--spacing", default=None, metavar="MM",
                      help="pixel spacing in mm (0.3, or ROW,COL, or a DICOM file to read it from): "
                           "HD95, ASSD and vessel widths in mm (default: in pixels)")
    both.add_argument("--overlays", action="store_true", help="write overlay PNGs even with --no-report")
    both.add_argument("--no-report", action="store_true", help="skip the HTML report and its figures")
    p.set_defaults(func=_cmd_evaluate)


def _add_compare_and_sweep_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="paired statistics of evaluations of the same images")
    p.add_argument("runs", nargs="+", help="folders written by `dskd evaluate`; the first is the baseline")
    p.add_argument("--out", default=None, help="write comparison.md, comparison.json and report.html here")
    p.add_argument("--labels", nargs="+", default=None, help="one name per run (default: folder names)")
    p.add_argument("--metrics", default=None, help="comma-separated metrics (default: all in every run)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="confidence level of the intervals (default 0.95)")
    p.add_argument("--replicates-a", nargs="+", default=None, metavar="DIR",
                   help="evaluations of the same images by further seeds of the first run's method; with "
                        "--replicates-b adds the seed-aware interval of a claim about the methods")
    p.add_argument("--replicates-b", nargs="+", default=None, metavar="DIR",
                   help="evaluations by further seeds of the second run's method (with --replicates-a)")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report and its figures")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("threshold-sweep", help="choose a threshold on a validation split")
    p.add_argument("--checkpoint", required=True, help="the checkpoint whose threshold is swept")
    p.add_argument("--out", required=True, help="folder for threshold_sweep.csv, .json and .png (created)")
    p.add_argument("--data", default=None,
                   help="validation images (default: the checkpoint's own validation split)")
    p.add_argument("--layout", default="folder", help="dataset layout of --data (default: folder)")
    p.add_argument("--split-file", default=None,
                   help="JSON split file for --data (default: none, every image of --data; "
                        "without --data the checkpoint's own validation split is used)")
    p.add_argument("--split", default="val", help="part of the split file (default: val; test is refused)")
    p.add_argument("--step", type=float, default=0.05, help="grid step (default 0.05: 0.05..0.95)")
    p.add_argument("--store", default=None, help="write a copy of the checkpoint carrying the threshold")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    p.set_defaults(func=_cmd_threshold_sweep)


def _cmd_ablate(args: argparse.Namespace) -> int:
    if (args.grid is None) == (args.table is None) or (args.grid and not args.out):
        raise DskdError("give --grid GRID.yaml --out DIR (run a grid), or --table DIR (tabulate the "
                        "result files in DIR or DIR/results)")
    if args.table:
        from dskd.ablate.report import write_table
        from dskd.ablate.results import read_results
        from dskd.ablate.table import ablation_table, format_markdown

        if len(args.table) > 1 and not args.out:
            raise DskdError("--table with several folders needs --out, the folder of the table")
        variants = [v.strip() for v in args.variants.split(",")] if args.variants else None
        results = [r for folder in args.table for r in read_results(folder)]
        result = ablation_table(results, reference=args.reference, figures=args.figures,
                                variants=variants)
        print(format_markdown(result))
        out = write_table(result, args.out or args.table[0])
        print(f"wrote {out / 'table.md'}, table.json, table.html, forest.png")
        return 0
    from dskd.ablate.grid import read_grid
    from dskd.ablate.launch import run_grid
    from dskd.ablate.runner import format_plan

    grid = read_grid(args.grid)
    if args.folds:
        grid = grid.only_folds(_numbers("--folds", args.folds))
    if args.seeds:
        grid = grid.with_seeds(_numbers("--seeds", args.seeds))
    if args.variants:
        grid = grid.only_variants([v.strip() for v in args.variants.split(",")])
    planned, failures = run_grid(grid, args.out, jobs=args.jobs, threads=args.threads,
                                 results=args.results, launcher=args.launcher,
                                 score_only=args.score_only, dry_run=args.dry_run,
                                 partition=args.partition, timeout_min=args.timeout_min)
    print(format_plan(grid, planned, args.out))
    for line in failures:
        print(f"dskd: failed: {line}", file=sys.stderr)
    return 1 if failures else 0


def _numbers(flag: str, text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise DskdError(f"{flag} {text}: give numbers separated by commas, e.g. 0,1") from None


def _add_ablate_command(sub: argparse._SubParsersAction) -> None:
    """ablate (docs/reproduction.md)."""
    p = sub.add_parser("ablate", help="run a cross-validated ablation grid, or tabulate its results")
    p.add_argument("--grid", default=None, help="grid file (benchmarks/ablations/*.yaml)")
    p.add_argument("--out", default=None,
                   help="--grid: folder of the runs (runs/<variant>/fold<k>-seed<s>) and results/; "
                        "--table: where to write the table (default: the --table folder)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    p.add_argument("--folds", default=None,
                   help="--grid: run only these comma-separated folds now, e.g. 0 (default: all)")
    p.add_argument("--seeds", default=None,
                   help="--grid: run these comma-separated seeds instead of the grid's, e.g. 0,1 "
                        "(more seeds narrow a paired interval; the table averages each image "
                        "over its seeds)")
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
    p.add_argument("--table", default=None, metavar="DIR", nargs="+",
                   help="tabulate the result files in DIR (an ablate --out folder or its results/); "
                        "several folders compare variants of several grids, e.g. the best of each")
    p.add_argument("--reference", default=None, help="--table: the reference variant (default: the grid's)")
    p.add_argument("--variants", default=None,
                   help="comma-separated variants: --grid: run only these now; --table: compare "
                        "only these (default: all, or all with results)")
    p.add_argument("--figures", choices=("primary", "secondary"), default="primary",
                   help="--table: primary (last.pt at 0.5, default) or secondary (best.pt, its threshold)")
    p.set_defaults(func=_cmd_ablate)


def add_evaluation_commands(sub: argparse._SubParsersAction) -> None:
    _add_evaluation_commands(sub)
    _add_compare_and_sweep_commands(sub)
    _add_ablate_command(sub)
