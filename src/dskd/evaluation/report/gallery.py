"""The overlay gallery: true positives, false positives and false negatives in three colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no global figure state, no backend to pick

from dskd.data.cases import CaseArrays
from dskd.data.io import write_png
from dskd.plots import overlay

__all__ = ["write_overlays", "plot_gallery"]


def write_overlays(cases: list[CaseArrays], predictions: list[np.ndarray], folder: str | Path
                   ) -> list[Path]:
    """folder/<name>.png for every case: the overlay of its prediction on its image."""
    folder = Path(folder)
    paths = []
    for case, pred in zip(cases, predictions, strict=True):
        path = folder / f"{case.name}.png"
        write_png(path, overlay(case.image, pred.astype(bool), case.mask))
        paths.append(path)
    return paths


def plot_gallery(overlay_dir: str | Path, rows: list[dict], path: str | Path, *,
                 max_images: int = 12, columns: int = 4) -> list[str]:
    """A contact sheet of the overlays in overlay_dir, worst Dice first, captioned with the
    figures that matter most for vessels. Returns the names shown."""
    from PIL import Image

    ordered = sorted(rows, key=lambda r: (np.nan_to_num(r.get("dice", 0.0), nan=-1.0), r["name"]))
    shown = ordered[:max_images]
    n_rows = max(1, -(-len(shown) // columns))
    fig = Figure(figsize=(3 * columns, 3.25 * n_rows))
    axes = fig.subplots(n_rows, columns, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, row in zip(axes.ravel(), shown, strict=False):
        with Image.open(Path(overlay_dir) / f"{row['name']}.png") as img:
            ax.imshow(np.asarray(img))
        caption = f"{row['name']}  Dice {row.get('dice', float('nan')):.3f}"
        if "cldice" in row:
            caption += f"\nclDice {row['cldice']:.3f}  HD95 {row.get('hd95', float('nan')):.1f}"
        ax.set_title(caption, fontsize=8)
    fig.suptitle("green: true positive   red: false positive   blue: false negative   "
                 f"({len(shown)} of {len(rows)} images, worst Dice first)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return [row["name"] for row in shown]
