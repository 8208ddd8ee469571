"""Training over a dataset too large for memory: one epoch over N synthetic 512x512 angiograms.

With data.cache=false the images stay on disk and the data-loader workers read each one when a
crop needs it. This trains one epoch (`dskd train`'s own fit(), one crop per image) for each N
in --sizes, each in a fresh process, and records images/s and peak memory: the proportional set
size (PSS, which counts pages shared between the main process and its forked workers once) of
the training process plus its workers, sampled every 0.2 s, and the peak resident set (RSS) of
the main process and of the largest worker. Bounded memory means the peaks do not grow with N.

    python benchmarks/data_scale.py                            # N = 1000 and 5000, 4 workers
    python benchmarks/data_scale.py --sizes 1000 5000 --also-cached 1000   # contrast: in memory

The synthetic images are generated once into --data (default: a folder under the system temp
dir, kept for reruns; 5,000 images take a few minutes on a multi-core machine).
Writes benchmarks/results/data-scale.json and data-scale.md (or --out DIR).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

VAL_IMAGES = 16  # a small validation set, so that the epoch also exercises lazy validation


def generate(data: Path, n: int, size: int, workers: int) -> None:
    """n + VAL_IMAGES synthetic images in data/images and data/masks (skips those present)."""
    from dskd.data.synthetic import write_synthetic_dataset

    total = n + VAL_IMAGES
    present = len(list((data / "images").glob("*.png"))) if (data / "images").is_dir() else 0
    if present >= total:
        return
    chunk = 50
    starts = range(present, total, chunk)
    print(f"generating {total - present} synthetic {size}x{size} images into {data} ...", flush=True)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(write_synthetic_dataset, data, n=min(chunk, total - s), size=size,
                            seed=0, start=s, progress=False) for s in starts]
        for job in jobs:
            job.result()


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:  # the process ended between listing and reading
        pass
    return 0


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


class MemorySampler(threading.Thread):
    """Peak PSS of this process plus its children (the data-loader workers), every `period` s."""

    def __init__(self, period: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.peak_total_kib = 0
        self.peak_workers = 0
        self._done = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._done.is_set():
            kids = _children(me)
            total = _pss_kib(me) + sum(_pss_kib(k) for k in kids)
            self.peak_total_kib = max(self.peak_total_kib, total)
            self.peak_workers = max(self.peak_workers, len(kids))
            self._done.wait(self.period)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _loader_only_epoch(config) -> float:
    """Seconds to draw one epoch of crops through the data loader alone (no network): how fast
    the workers read and crop, to compare with the training rate."""
    from torch.utils.data import DataLoader

    from dskd.data.datasets import TrainCrops, load_cases
    from dskd.data.training_split import split_training_cases

    train_cases, _ = split_training_cases(config.data, seed=config.run.seed)
    d = config.data
    crops = TrainCrops(load_cases(train_cases, cache=d.cache), crop_size=d.crop_size,
                       samples_per_epoch=d.samples_per_epoch, foreground_prob=d.foreground_crop_prob,
                       augment=config.augment, seed=config.run.seed)
    started = time.perf_counter()
    for _ in DataLoader(crops, batch_size=d.batch_size, num_workers=d.num_workers):
        pass
    return time.perf_counter() - started


def child(args: argparse.Namespace) -> None:
    """Train one epoch over the first args.child images; write the measurements as JSON."""
    import csv

    import torch

    from dskd.config import load_config
    from dskd.training.fit import fit

    n = args.child
    data = Path(args.data)
    names = sorted((p.stem for p in (data / "images").glob("*.png")),
                   key=lambda name: int(name.split("_")[1]))  # case_0000 ... case_12345
    split = {"train": names[:n], "val": names[args.max_n:args.max_n + VAL_IMAGES]}
    work = Path(tempfile.mkdtemp(prefix=f"dskd-scale-{n}-"))
    (work / "split.json").write_text(json.dumps(split))
    config = load_config(None, [
        f"data.root={data}", f"data.split_file={work / 'split.json'}",
        f"data.cache={'true' if args.cached else 'false'}", f"data.num_workers={args.workers}",
        f"data.crop_size={args.crop}", f"data.batch_size={args.batch}",
        f"data.samples_per_epoch={n}", "optim.epochs=1", f"loss.objective={args.objective}",
        f"model.depth={args.depth}", f"model.width={args.width}", f"run.threads={args.threads}",
    ])
    sampler = MemorySampler()
    sampler.start()
    started = time.perf_counter()
    fit(config, work / "run")
    seconds = time.perf_counter() - started
    sampler.stop()
    with open(work / "run" / "log.csv") as handle:
        epoch_seconds = float(next(csv.DictReader(handle))["seconds"])
    loader_seconds = _loader_only_epoch(config)
    result = {
        "images": n, "cache": args.cached, "workers": args.workers,
        "images_per_s": n / epoch_seconds, "epoch_seconds": epoch_seconds,
        "fit_seconds_including_setup": round(seconds, 2),
        "loader_only_images_per_s": n / loader_seconds,
        "peak_pss_total_mib": sampler.peak_total_kib / 1024,
        "peak_rss_main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_largest_worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "workers_seen": sampler.peak_workers, "torch_threads": torch.get_num_threads(),
    }
    Path(args.result).write_text(json.dumps(result))


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Data at scale: one training epoch over N synthetic angiograms",
        "",
        f"{s['image_size']}x{s['image_size']} images, one {s['crop']} px crop per image per epoch, "
        f"batch {s['batch']}, objective {s['objective']}, U-Net depth {s['depth']} width "
        f"{s['width']}, {s['workers']} data-loader workers; {report['machine']['platform']}, "
        f"{report['machine']['cpus']} CPUs.",
        "",
        "| images | in memory | training images/s | epoch s | loader alone images/s | "
        "peak PSS main + workers (MiB) | peak RSS main (MiB) | peak RSS largest worker (MiB) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(f"| {r['images']} | {'yes' if r['cache'] else 'no'} | "
                     f"{r['images_per_s']:.1f} | {r['epoch_seconds']:.1f} | "
                     f"{r['loader_only_images_per_s']:.1f} | "
                     f"{r['peak_pss_total_mib']:.0f} | {r['peak_rss_main_mib']:.0f} | "
                     f"{r['peak_rss_largest_worker_mib']:.0f} |")
    if "lazy_peak_growth" in report:
        lines += ["", f"Peak PSS at {report['lazy_peak_growth']['largest']} images / at "
                  f"{report['lazy_peak_growth']['smallest']} images (lazy): "
                  f"**{report['lazy_peak_growth']['ratio']:.2f}x**"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--also-cached", type=int, nargs="*", default=[],
                        help="sizes to run with data.cache=true as well (memory grows with N)")
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4, help="data-loader workers")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads of the training process (0: CPUs minus workers)")
    parser.add_argument("--objective", default="dskd")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "dskd-data-scale"))
    parser.add_argument("--gen-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cached", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--max-n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    if args.threads == 0:  # the workers need cores too: oversubscribed OpenMP threads crawl
        args.threads = max(1, (os.cpu_count() or 1) - args.workers)
    max_n = max(args.sizes + args.also_cached)
    data = Path(args.data) / f"{args.image_size}px"
    generate(data, max_n, args.image_size, args.gen_workers)
    runs = [(n, False) for n in sorted(args.sizes)] + [(n, True) for n in sorted(args.also_cached)]
    results = []
    for n, cached in runs:
        print(f"training one epoch over {n} images ({'in memory' if cached else 'lazy'}) ...",
              flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json") as result:
            command = [sys.executable, __file__, "--child", str(n), "--max-n", str(max_n),
                       "--data", str(data), "--result", result.name, "--crop", str(args.crop),
                       "--batch", str(args.batch), "--workers", str(args.workers),
                       "--threads", str(args.threads), "--objective", args.objective,
                       "--depth", str(args.depth), "--width", str(args.width)]
            subprocess.run(command + (["--cached"] if cached else []), check=True)
            results.append(json.loads(Path(result.name).read_text()))
    report = {
        "what": "one training epoch over N synthetic images read lazily by data-loader workers",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": {"image_size": args.image_size, "crop": args.crop, "batch": args.batch,
                     "workers": args.workers, "objective": args.objective, "depth": args.depth,
                     "width": args.width, "threads": args.threads},
        "results": results,
    }
    lazy = [r for r in results if not r["cache"]]
    if len(lazy) >= 2:
        small, large = lazy[0], lazy[-1]
        report["lazy_peak_growth"] = {"smallest": small["images"], "largest": large["images"],
                                      "ratio": large["peak_pss_total_mib"]
                                      / small["peak_pss_total_mib"]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "data-scale.json").write_text(json.dumps(report, indent=2))
    (out / "data-scale.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
