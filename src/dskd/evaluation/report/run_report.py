"""The HTML report of one evaluation folder: summary table, protocol, figures, overlay gallery."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dskd.evaluation.report.figures import plot_metric_boxes, plot_pr_curves, read_log
from dskd.evaluation.report.gallery import plot_gallery
from dskd.evaluation.report.html import escape, figure, fmt, legend, link, table, write_page
from dskd.metrics.suite import METRICS, better_direction
from dskd.metrics.summary import EvaluationSummary

__all__ = ["write_run_report", "summary_table", "protocol_lines"]



def summary_table(summary: EvaluationSummary) -> str:
    """metric | per-image mean +- std | median | n | pooled | better."""
    rows = []
    for name, stats in summary.per_image.items():
        pooled = summary.pooled.get(name, "per image only") if name in METRICS else ""
        mean_std = (f"{fmt(stats.mean, name)} &plusmn; {fmt(stats.std, name)}"
                    if stats.mean is not None else fmt(None))
        rows.append([escape(name), mean_std, fmt(stats.median, name), fmt(stats.n),
                     fmt(pooled, name) if not isinstance(pooled, str) else escape(pooled),
                     better_direction(name) if name in METRICS else ""])
    return table(["metric", "per-image mean ± std", "median", "n", "pooled", "better"], rows)


def protocol_lines(summary: EvaluationSummary) -> list[str]:
    """Plain-text sentences stating how the figures were made."""
    protocol = summary.protocol or {}
    threshold = summary.threshold
    lines = [f"{summary.n_images} images; threshold "
             f"{'set by the tool that made the masks' if threshold is None else f'{threshold:.2f}'} "
             f"(policy: {summary.threshold_policy})."]
    if protocol:
        lines.append(f"Components and holes with {protocol['connectivity']}-connectivity (holes with "
                     f"the complementary one); HD95/ASSD in pixels, one empty mask scored "
                     f"{'as the image diagonal' if protocol['empty_policy'] == 'diagonal' else 'NaN'}"
                     f", both empty as 0; ratios with nothing to count = {protocol['zero_division']}.")
    fov = summary.sources.get("fov")
    lines.append("Pixels outside the field-of-view masks in " + fov + " are not counted."
                 if fov else "No field-of-view mask: every pixel counts.")
    empty = summary.empty_masks
    if empty and any(empty.values()):
        lines.append(f"Empty masks: {empty['prediction']} predictions, {empty['label']} labels, "
                     f"{empty['both']} both.")
    by_definition: dict[str, list[str]] = {}
    for name, how in summary.pooled_definition.items():
        by_definition.setdefault(how, []).append(name)
    for how, names in by_definition.items():
        lines.append(f"Pooled {', '.join(names)}: {how}.")
    if summary.per_image_only:
        lines.append("Per image only (no pooled figure): " + ", ".join(summary.per_image_only) + ".")
    return lines


def _figures(out_dir: Path, rows: list[dict], summary: EvaluationSummary,
             pr_curve: dict | None) -> list[str]:
    """Write the run's PNGs into out_dir; returns their file names."""
    names = []
    boxes = {m: [r[m] for r in rows] for m in ("dice", "cldice") if rows and m in rows[0]}
    if boxes:
        plot_metric_boxes(boxes, out_dir / "dice_boxplot.png", ylabel="per image")
        names.append("dice_boxplot.png")
    if pr_curve is not None and pr_curve["recall"].size:
        pooled = summary.pooled
        point = (pooled["sensitivity"], pooled["precision"]) if summary.threshold is not None else None
        plot_pr_curves({"pooled": pr_curve}, out_dir / "pr_curve.png",
                       operating_points={"pooled": point} if point else None)
        names.append("pr_curve.png")
    log_path = summary.sources.get("training_log")
    history = read_log(log_path) if log_path else []
    if history:
        from dskd.plots import plot_training_curves

        plot_training_curves(history, out_dir / "training_curves.png")
        names.append("training_curves.png")
    return names


def _gallery(rows: list[dict]) -> str:
    ordered = sorted(rows, key=lambda r: (np.nan_to_num(r.get("dice", 0.0), nan=-1.0), r["name"]))
    cells = []
    for row in ordered:
        src = f"overlays/{row['name']}.png"
        details = " ".join(f"{label} {fmt(row[key], key)}" for key, label in (
            ("dice", "Dice"), ("cldice", "clDice"), ("hd95", "HD95"), ("betti_0_error", "β0 err"))
            if key in row)
        cells.append(f"<figure>{figure(src, row['name'])}<figcaption><b>{escape(row['name'])}</b> "
                     f"{details}</figcaption></figure>")
    return '<div class="gallery">' + "".join(cells) + "</div>"


def write_run_report(out_dir: str | Path, rows: list[dict], summary: EvaluationSummary, *,
                     pr_curve: dict | None = None) -> Path:
    """out_dir/report.html with its figures; expects out_dir/overlays/<name>.png to exist."""
    out_dir = Path(out_dir)
    figures = _figures(out_dir, rows, summary, pr_curve)
    if rows:
        plot_gallery(out_dir / "overlays", rows, out_dir / "gallery.png")
        figures.append("gallery.png")
    sources = summary.sources
    source = sources.get("checkpoint") or sources.get("predictions") or str(out_dir)
    data = sources.get("data") or sources.get("labels") or ""
    body = [
        f'<p class="note">Source: {escape(source)}; labels: {escape(data)}. '
        f"Files: {link('per_image.csv', 'per_image.csv')}, {link('summary.json', 'summary.json')}.</p>",
        "<h2>Summary</h2>", summary_table(summary),
        "<h2>Protocol</h2>",
        "".join(f'<p class="note">{escape(line)}</p>' for line in protocol_lines(summary)),
        "<h2>Figures</h2>", '<div class="figures">' + "".join(figure(n, n) for n in figures) + "</div>",
        "<h2>Gallery (worst Dice first)</h2>", legend(), _gallery(rows),
    ]
    return write_page(out_dir / "report.html", f"dskd evaluation: {Path(source).name}", "\n".join(body))
