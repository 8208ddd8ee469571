"""QCA pictures: the centreline coloured by diameter over the frame, and each lesion's profile.

Every picture names its unit and the calibration's source in its title, so a millimetre is never
shown without where it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dskd.qca import Calibration, FrameQCA, LesionReading
from dskd.qca.lesions import analysable, reference_line

__all__ = ["write_overlay", "write_lesion_profiles"]


def write_overlay(path: Path, background: np.ndarray, result: FrameQCA) -> Path:
    """The frame in gray, the centreline coloured by diameter, each lesion's %DS and MLD."""
    from matplotlib.figure import Figure

    height, width = background.shape
    fig = Figure(figsize=(width / 100 + 1.6, height / 100 + 0.6), dpi=100)
    ax = fig.add_axes((0.02, 0.02, 0.8, 0.9))
    ax.imshow(background, cmap="gray", vmin=0, vmax=1)
    size = result.calibration.size
    scatter = None
    finite_all = [p.diameter[np.isfinite(p.diameter)] for p in result.profiles]
    top = size(max((float(d.max()) for d in finite_all if d.size), default=1.0))
    for profile in result.profiles:
        finite = np.isfinite(profile.diameter)
        if finite.any():
            scatter = ax.scatter(
                profile.centre[finite, 1],
                profile.centre[finite, 0],
                c=size(1.0) * profile.diameter[finite],
                s=2,
                cmap="turbo",
                vmin=0,
                vmax=top,
            )
    for k, lesion in enumerate(result.lesions):
        ax.plot(lesion.col, lesion.row, "o", ms=10, mfc="none", mec="white", mew=1.5)
        ax.annotate(
            f"#{k} {lesion.percent_diameter_stenosis:.0f}% MLD {size(lesion.mld_px):.2f} "
            f"{result.calibration.unit}",
            (lesion.col, lesion.row),
            xytext=(8, -8),
            textcoords="offset points",
            color="yellow",
            fontsize=8,
        )
    ax.set_axis_off()
    if scatter is not None:
        bar = fig.colorbar(scatter, ax=ax, fraction=0.05)
        bar.set_label(f"diameter ({result.calibration.unit})")
    ax.set_title(f"calibration: {result.calibration.source}"[:110], fontsize=7)
    fig.savefig(path)
    return path


def write_lesion_profiles(out_dir: Path, name: str, result: FrameQCA) -> list[Path]:
    """<name>_lesion<k>.png: the diameter along the lesion's segment, its reference and its MLD."""
    from matplotlib.figure import Figure

    paths = []
    size, unit = result.calibration.size, result.calibration.unit
    for k, lesion in enumerate(result.lesions):
        segment, profile = result.segments[lesion.segment], result.profiles[lesion.segment]
        usable = analysable(segment, profile)
        reference = reference_line(profile.position, profile.diameter, usable)
        fig = Figure(figsize=(6, 3), dpi=100)
        ax = fig.add_subplot()
        ax.plot(size(1.0) * profile.position, size(1.0) * profile.diameter, lw=1, label="diameter")
        ax.plot(size(1.0) * profile.position, size(1.0) * reference, "--", lw=1, label="reference (fit)")
        ax.axvspan(size(lesion.start_px), size(lesion.end_px), color="C3", alpha=0.15, label="lesion")
        ax.plot(size(lesion.position_px), size(lesion.mld_px), "v", color="C3", label="MLD")
        ax.set_xlabel(f"position along segment {lesion.segment} ({unit})")
        source = "probability map" if result.method == "probability" else "binary mask"
        ax.set_ylabel(f"diameter ({unit}, {source})")
        ax.set_title(
            f"lesion #{k}: {lesion.percent_diameter_stenosis:.0f}% DS, MLD {size(lesion.mld_px):.2f}, "
            f"RVD {size(lesion.reference_px):.2f}, length {size(lesion.length_px):.1f} {unit}",
            fontsize=8,
        )
        ax.legend(fontsize=7)
        fig.text(0.01, 0.01, f"calibration: {result.calibration.source}"[:120], fontsize=6)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        path = out_dir / f"{name}_lesion{k}.png"
        fig.savefig(path)
        paths.append(path)
    return paths


def write_stability_plot(path: Path, readings: list[LesionReading], *, read_frame: int,
                         calibration: Calibration) -> Path:
    """%DS and MLD of each lesion of the frame read (qca.tracking's readings) against the frame;
    the frame read marked, frames where a lesion was not found left as gaps."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ds_axis, mld_axis = fig.subplots(2, 1, sharex=True)
    for k in sorted({r.lesion for r in readings}):
        mine = [r for r in readings if r.lesion == k]
        frames = [r.frame for r in mine]
        ds_axis.plot(frames, [r.percent_diameter_stenosis for r in mine], "o-", ms=3, label=f"lesion #{k}")
        mld_axis.plot(frames, [calibration.size(r.mld_px) for r in mine], "o-", ms=3)
    for axis in (ds_axis, mld_axis):
        axis.axvline(read_frame, color="0.5", ls="--", lw=1)
    ds_axis.set_ylabel("% diameter stenosis")
    mld_axis.set_ylabel(f"MLD ({calibration.unit})")
    mld_axis.set_xlabel(f"frame (dashed: frame {read_frame}, the one read)")
    ds_axis.legend(fontsize=7)
    fig.text(0.01, 0.01, f"calibration: {calibration.source}"[:120], fontsize=6)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    return path
