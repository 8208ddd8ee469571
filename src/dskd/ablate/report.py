"""The ablation table's files: table.md, table.json, and table.html with a forest plot of the
paired differences to the reference (one panel per figure, a dot and its 95% CI per variant)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no global figure state, no backend to pick
from matplotlib.ticker import MaxNLocator

from dskd.ablate.table import format_ci, format_figure, format_markdown
from dskd.evaluation.report.html import escape, figure, link, table, write_page
from dskd.evaluation.stats import format_p
from dskd.tables import json_safe

__all__ = ["plot_forest", "write_table"]


def plot_forest(result: dict, path: str | Path) -> None:
    """Mean paired difference (variant - reference) and its CI, one panel per figure."""
    metrics, variants = result["metrics"], list(result["differences"])
    if not variants:
        fig = Figure(figsize=(4.2, 1.2))
        fig.text(0.5, 0.5, f"only the reference ({result['reference']}) has results", ha="center")
        fig.savefig(path, dpi=110)
        return
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    fig = Figure(figsize=(4.2 * columns, 0.5 + rows * (0.9 + 0.32 * max(1, len(variants)))))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(metrics):]:
        ax.axis("off")
    for ax, m in zip(axes, metrics, strict=False):
        for y, v in enumerate(variants):
            d = result["differences"][v][m]
            if d["mean_difference"] is None or math.isnan(d["mean_difference"]):
                continue
            method = d["method"]
            low, high = method["ci_low"], method["ci_high"]
            significant = method["p_holm"] is not None and method["p_holm"] < 0.05
            ax.plot([low, high], [y, y], color="C0" if significant else "0.5", lw=2)
            ax.plot(d["mean_difference"], y, "o", color="C0" if significant else "0.3", markersize=5)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(variants)), variants, fontsize=8)
        ax.set_ylim(len(variants) - 0.5, -0.5)
        better = {True: "higher is better", False: "lower is better", None: ""}[result["higher_is_better"][m]]
        ax.set_title(f"{m} ({better})", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(5))
    fig.suptitle(f"{result['grid']}: variant - {result['reference']}, {result['n_images']} images "
                 "out of fold, seed-aware 95% CI (blue: Holm p < 0.05)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _html_body(result: dict) -> str:
    metrics, reference = result["metrics"], result["reference"]
    summary_rows = [[escape(v + (" (reference)" if v == reference else "")), str(info["runs"]),
                     escape(",".join(map(str, info["folds"]))),
                     *(format_ci(s["mean"], s["ci_low"], s["ci_high"], m)
                       for m, s in info["metrics"].items())]
                    for v, info in result["variants"].items()]
    body = [f'<p class="note">Out-of-fold per-image figures ({escape(result["figures"])}: '
            f"{escape(result['figures_definition'])}); {result['n_images']} images scored by every "
            f"variant, seeds {escape(result['seeds'])}; {escape(result['settings']['unit'])}. Files: "
            f"{link('table.md', 'table.md')}, {link('table.json', 'table.json')}.</p>",
            "<h2>Per variant: mean [95% CI]</h2>",
            table(["variant", "runs", "folds", *metrics], summary_rows),
            f"<h2>Paired differences to {escape(reference)}</h2>",
            '<div class="figures">' + figure("forest.png", "forest plot") + "</div>"]
    for m in metrics:
        rows = [[escape(v), format_figure(d[m]["mean_difference"], m, True),
                 f"[{format_figure(d[m]['method']['ci_low'], m, True)}, "
                 f"{format_figure(d[m]['method']['ci_high'], m, True)}]", format_p(d[m]["method"]["p_holm"]),
                 f"[{format_figure(d[m]['ci_low'], m, True)}, {format_figure(d[m]['ci_high'], m, True)}]",
                 format_p(d[m]["p_value"]), format_p(d[m]["p_holm"]),
                 f"{d[m]['b_better']} / {d[m]['a_better']}"]
                for v, d in result["differences"].items()]
        body += [f"<h3>{escape(m)}</h3>",
                 table(["variant", f"mean diff (− {reference})", "method 95% CI (seed-aware)", "t p (Holm)",
                        "these weights: 95% CI", "Wilcoxon p", "Holm p", "better / worse"], rows)]
    s = result["settings"]
    body.append(f'<p class="note">Method: {escape(s.get("method_interval", ""))}. These weights: '
                f'{escape(s["interval"])} ({s["n_resamples"]} resamples, seed '
                f"{s['seed']}); {escape(s['test'])}; {escape(s['p_holm'])}.</p>")
    return "\n".join(body)


def write_table(result: dict, out_dir: str | Path) -> Path:
    """out_dir/table.md, table.json, table.html and forest.png."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "table.json").write_text(json.dumps(json_safe(result), indent=1) + "\n")
    (out_dir / "table.md").write_text(format_markdown(result))
    plot_forest(result, out_dir / "forest.png")
    write_page(out_dir / "table.html", f"dskd ablation: {result['grid']}", _html_body(result))
    return out_dir
