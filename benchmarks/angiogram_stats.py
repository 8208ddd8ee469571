"""Statistics of real and synthetic angiograms, side by side (issue 14, docs/synthetic.md).

    python benchmarks/angiogram_stats.py --n 40

Measured on CIMAT *training* 1-40 (images and expert masks; never the testing images) and on
`--n` images of each generator: the previous one (`old`, read from git history at OLD_COMMIT)
and the current one (`new`, dskd.data.synthetic). Per image, then the mean over images:

- vessel area fraction (of the field of view);
- vessel width along the skeleton: 2 x the distance transform at skeleton pixels (percentiles);
- branching: junctions and end points of the skeleton, tortuosity (arc / chord) of its segments;
- contrast: the vessel-free background B is filled in under the dilated mask (the generator's
  `fill_vessels`), then -log(I / B) on the centreline, by width, and the profile of I / B across
  the vessel edge (signed distance in px, negative inside);
- background: histogram of the field of view outside the vessels (percentiles, std) and the
  slope of its radially averaged power spectrum (log-log, 0.01-0.25 cycles/px);
- noise: 1.4826 x MAD of a high-pass residual (image minus its 3x3 median), outside the vessels.

Writes benchmarks/results/angiogram-stats.json and .md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from dskd.data.io import read_image, read_mask
from dskd.data.synthetic import fill_vessels, synth_angiogram

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cimat-angiograms" / "training"
RESULTS = ROOT / "benchmarks" / "results"
WIDTH_BINS = [(0, 2.5), (2.5, 4.5), (4.5, 6.5), (6.5, 99)]
PROFILE_AT = list(range(-4, 9))  # signed distance to the vessel edge, px (negative inside)


def field_of_view(image: np.ndarray) -> np.ndarray:
    """The collimator's bright disc: smoothed image above 0.12, holes filled, largest part, eroded."""
    fov = ndimage.gaussian_filter(image, 2) > 0.12
    fov = ndimage.binary_fill_holes(fov)
    labels, n = ndimage.label(fov)
    if n > 1:
        fov = labels == 1 + np.argmax(np.bincount(labels.ravel())[1:])
    return ndimage.binary_erosion(fov, iterations=4)


def skeleton_graph(skeleton: np.ndarray) -> tuple[int, int, list[float]]:
    """Junction count, end-point count and tortuosity (arc / chord) of segments >= 20 px."""
    neighbours = ndimage.convolve(skeleton.astype(int), np.ones((3, 3), int), mode="constant") - 1
    neighbours = np.where(skeleton, neighbours, 0)
    junction = skeleton & (neighbours >= 3)
    ends = skeleton & (neighbours == 1)
    n_junctions = ndimage.label(ndimage.binary_dilation(junction), structure=np.ones((3, 3)))[1]
    segments = skeleton & ~ndimage.binary_dilation(junction, structure=np.ones((3, 3)))
    labels, n = ndimage.label(segments, structure=np.ones((3, 3)))
    tortuosity = []
    seg_neighbours = ndimage.convolve(segments.astype(int), np.ones((3, 3), int), mode="constant") - 1
    for k, where in enumerate(ndimage.find_objects(labels), start=1):
        part = labels[where] == k
        coords = np.argwhere(part)
        if len(coords) < 20:
            continue
        tips = np.argwhere(part & (seg_neighbours[where] == 1))
        if len(tips) != 2:
            continue
        # arc length: orthogonal steps count 1, diagonal ones sqrt(2) (a one-pixel-wide path)
        orth = (part[1:, :] & part[:-1, :]).sum() + (part[:, 1:] & part[:, :-1]).sum()
        diag = (part[1:, 1:] & part[:-1, :-1]).sum() + (part[1:, :-1] & part[:-1, 1:]).sum()
        arc = orth + np.sqrt(2) * diag
        chord = float(np.hypot(*(tips[0] - tips[1])))
        if chord > 10:
            tortuosity.append(float(max(arc, chord) / chord))
    return n_junctions, int(ends.sum()), tortuosity


def power_slope(background: np.ndarray, fov: np.ndarray) -> float:
    """Slope of log power against log frequency of the largest centred square inside the field."""
    height, width = background.shape
    ys, xs = np.nonzero(fov)
    cy, cx = int(ys.mean()), int(xs.mean())
    half = min(height, width) // 2
    while half > 16 and not fov[max(0, cy - half):cy + half, max(0, cx - half):cx + half].all():
        half -= 4
    patch = background[max(0, cy - half):cy + half, max(0, cx - half):cx + half]
    patch = (patch - patch.mean()) * np.outer(np.hanning(patch.shape[0]), np.hanning(patch.shape[1]))
    power = np.abs(np.fft.fftshift(np.fft.fft2(patch))) ** 2
    fy = np.fft.fftshift(np.fft.fftfreq(patch.shape[0]))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(patch.shape[1]))[None, :]
    radius = np.hypot(fy, fx)
    edges = np.geomspace(0.01, 0.25, 13)
    f, p = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        ring = (radius >= lo) & (radius < hi)
        if ring.any():
            f.append(np.sqrt(lo * hi))
            p.append(power[ring].mean())
    return float(np.polyfit(np.log(f), np.log(p), 1)[0])


def image_stats(image: np.ndarray, mask: np.ndarray) -> dict:
    """Every statistic of one image (float (H, W) in [0, 1]) and its vessel mask (bool (H, W))."""
    fov = field_of_view(image)
    mask = mask & fov
    width = 2 * ndimage.distance_transform_edt(mask)
    skeleton = skeletonize(mask)
    widths = width[skeleton]
    junctions, ends, tortuosity = skeleton_graph(skeleton)
    background = fill_vessels(image, mask)
    ratio = np.clip(image, 1e-3, None) / np.clip(background, 1e-3, None)
    attenuation = -np.log(ratio)
    by_width = {}
    for lo, hi in WIDTH_BINS:
        sel = skeleton & (width > lo) & (width <= hi)
        by_width[f"{lo}-{hi}"] = float(np.median(attenuation[sel])) if sel.sum() > 5 else None
    signed = ndimage.distance_transform_edt(~mask) - ndimage.distance_transform_edt(mask)
    signed = np.where(mask, signed + 0.5, signed - 0.5)  # pixel centres: -0.5 just inside
    profile = []
    for d in PROFILE_AT:
        sel = fov & (np.round(signed) == d)
        profile.append(float(np.mean(ratio[sel])) if sel.any() else None)
    clear = fov & ~ndimage.binary_dilation(mask, iterations=4)
    values = image[clear]
    residual = image - ndimage.median_filter(image, 3)
    res = residual[clear]
    return {
        "area_fraction": float(mask.sum() / fov.sum()),
        "fov_fraction": float(fov.mean()),
        "width_p10": float(np.percentile(widths, 10)),
        "width_p50": float(np.percentile(widths, 50)),
        "width_p90": float(np.percentile(widths, 90)),
        "width_max": float(widths.max()),
        "thin_share": float(np.mean(widths <= 2.5)),
        "skeleton_px": int(skeleton.sum()),
        "junctions": junctions,
        "end_points": ends,
        "tortuosity_median": float(np.median(tortuosity)) if tortuosity else None,
        "attenuation_centre": float(np.median(attenuation[skeleton])),
        "attenuation_by_width": by_width,
        "edge_profile": profile,
        "bg_mean": float(values.mean()),
        "bg_std": float(values.std()),
        "bg_p5": float(np.percentile(values, 5)),
        "bg_p50": float(np.percentile(values, 50)),
        "bg_p95": float(np.percentile(values, 95)),
        "outside_mean": float(image[~ndimage.binary_dilation(fov, iterations=8)].mean())
        if (~ndimage.binary_dilation(fov, iterations=8)).any() else None,
        "psd_slope": power_slope(background, fov),
        "noise_mad": float(1.4826 * np.median(np.abs(res - np.median(res)))),
        "noise_relative": float(1.4826 * np.median(np.abs(res - np.median(res))) / values.mean()),
    }


def summarise(rows: list[dict]) -> dict:
    """Mean over images of every scalar, and element-wise mean of the lists and dicts."""
    out = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if isinstance(values[0], dict):
            out[key] = {k: _mean([v[k] for v in values]) for k in values[0]}
        elif isinstance(values[0], list):
            out[key] = [_mean([v[i] for v in values]) for i in range(len(values[0]))]
        else:
            out[key] = _mean(values)
    return out


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def real_rows(n: int) -> list[dict]:
    rows = []
    for k in range(1, n + 1):
        image = read_image(DATA / f"{k}.png")
        mask = read_mask(DATA / f"{k}_gt.png")
        rows.append(image_stats(image, mask))
    return rows


def synthetic_rows(generate, n: int, seed: int) -> list[dict]:
    return [image_stats(*generate(np.random.default_rng([seed, k]))) for k in range(n)]


SCALARS = [
    ("area_fraction", "vessel area fraction (of the field)"),
    ("width_p10", "width on skeleton, p10 (px)"),
    ("width_p50", "width on skeleton, median (px)"),
    ("width_p90", "width on skeleton, p90 (px)"),
    ("width_max", "width on skeleton, max (px)"),
    ("thin_share", "skeleton share with width <= 2.5 px"),
    ("skeleton_px", "skeleton length (px)"),
    ("junctions", "junctions"),
    ("end_points", "end points"),
    ("tortuosity_median", "tortuosity (arc/chord), median segment"),
    ("attenuation_centre", "-log(I/B) on the centreline, median"),
    ("bg_mean", "background mean (field, no vessels)"),
    ("bg_std", "background std"),
    ("bg_p5", "background p5"),
    ("bg_p95", "background p95"),
    ("outside_mean", "outside the collimator, mean"),
    ("psd_slope", "background power-spectrum slope"),
    ("noise_mad", "noise: high-pass MAD (intensity)"),
    ("noise_relative", "noise / background mean"),
]


def table(summary: dict) -> str:
    names = list(summary)
    lines = ["| statistic | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    fmt = lambda v: "-" if v is None else (f"{v:.0f}" if abs(v) >= 100 else f"{v:.3f}")  # noqa: E731
    for key, label in SCALARS:
        lines.append(f"| {label} | " + " | ".join(fmt(summary[s][key]) for s in names) + " |")
    for band in summary[names[0]]["attenuation_by_width"]:
        lines.append(f"| -log(I/B), width {band} px | "
                     + " | ".join(fmt(summary[s]["attenuation_by_width"][band]) for s in names) + " |")
    for i, d in enumerate(PROFILE_AT):
        if d % 2 == 0 or d < 0:
            lines.append(f"| I/B at {d:+d} px from the edge | "
                         + " | ".join(fmt(summary[s]["edge_profile"][i]) for s in names) + " |")
    return "\n".join(lines)


OLD_COMMIT = "94f410b"  # the generator before issue 14, read from git history


def previous_generator():
    """synth_angiogram of the generator before issue 14 (src/dskd/data/synthetic.py at OLD_COMMIT)."""
    source = subprocess.run(["git", "show", f"{OLD_COMMIT}:src/dskd/data/synthetic.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("synthetic_before_issue_14")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return module.synth_angiogram


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="synthetic images per generator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="angiogram-stats")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found (the real statistics need CIMAT training images)")
        return 0
    old_generator = previous_generator()

    started = time.perf_counter()
    summary = {
        "real (CIMAT training 1-40)": summarise(real_rows(40)),
        "old generator": summarise(synthetic_rows(lambda r: old_generator(r, 300), args.n, args.seed)),
        "new generator": summarise(synthetic_rows(lambda r: synth_angiogram(r, 300), args.n,
                                                  args.seed)),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"n_synthetic": args.n, "seed": args.seed, "size": 300, "summary": summary,
               "profile_distances_px": PROFILE_AT, "seconds": round(time.perf_counter() - started, 1),
               "command": f"python benchmarks/angiogram_stats.py --n {args.n}"}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(payload, indent=2))
    md = (f"# {args.name}\n\nReal: CIMAT training 1-40 with their masks. Synthetic: {args.n} images "
          f"(300 px, seed {args.seed}) of each generator. Intensities in [0, 1]; mean over images."
          f"\n\n{table(summary)}\n\nCommand: `{payload['command']}`\n")
    (RESULTS / f"{args.name}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
