"""Width against speed for the recipe (issue 13, grid 4): out-of-fold Dice of each network width
of the width grid beside its 512x512 frames/s on this CPU, and the real-time config: the fastest
width within one Dice point of the best that runs at >= 15 frames/s.

Dice is the grid's primary figure (last.pt at threshold 0.5, out of fold), each width paired
with the best one on the images both have scored (dskd ablate --table's pairing); frames/s are
benchmarks/inference.py's float32 settings (ONNX Runtime, PyTorch channels-last) for the same
depth and width, measured on the CPU its JSON names. Widths without results are left out.

    dskd ablate --grid benchmarks/ablations/width.yaml --out runs/ablate/cimat-width \\
        --results benchmarks/results/ablations/width/results --jobs 2
    python benchmarks/width_pareto.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dskd.ablate.grid import read_grid
from dskd.ablate.results import read_results
from dskd.ablate.runs import resolve_cell
from dskd.ablate.table import ablation_table

REPO = Path(__file__).resolve().parent.parent
GRID = REPO / "benchmarks" / "ablations" / "width.yaml"
RESULTS = REPO / "benchmarks" / "results" / "ablations" / "width"
SPEED = REPO / "benchmarks" / "results" / "inference_cpu.json"
SETTINGS = ("onnxruntime", "torch channels_last")  # float32: the masks of eager PyTorch
WITHIN = 0.01  # one Dice point
REAL_TIME_FPS = 15.0


def _architectures(grid_file: Path) -> dict[str, tuple[int, int]]:
    """(depth, width) of each variant, from its resolved config."""
    grid = read_grid(grid_file)
    return {cell.variant.name: (config.model.depth, config.model.width)
            for cell in grid.cells() if cell.fold == grid.folds[0] and cell.seed == grid.seeds[0]
            for config in [resolve_cell(grid, cell)]}


def _speeds(speed: dict, depth: int, width: int) -> dict[str, float]:
    name = f"depth {depth}, width {width}"
    return {row["variant"]: row["fps"] for row in speed["cpu_rows"]
            if row["model"].startswith(name) and row["variant"] in SETTINGS}


def pareto(results: list[dict], architectures: dict[str, tuple[int, int]], speed: dict) -> dict:
    scored = sorted({r["variant"] for r in results} & set(architectures),
                    key=lambda v: architectures[v][1])
    if not scored:
        raise SystemExit("no result of a width-grid variant yet")
    first = ablation_table(results, reference=scored[0], variants=scored)
    means = {v: first["variants"][v]["metrics"]["dice"]["mean"] for v in scored}
    best = max(scored, key=means.get)
    others = [v for v in scored if v != best]
    paired = ablation_table(results, reference=best, variants=others) if others else first
    rows = []
    for variant in scored:
        depth, width = architectures[variant]
        dice = paired["variants"][variant]["metrics"]["dice"]
        fps = _speeds(speed, depth, width)
        difference = paired["differences"].get(variant, {}).get("dice") if variant != best else None
        rows.append({
            "variant": variant, "depth": depth, "width": width,
            "folds": paired["variants"][variant]["folds"],
            "dice": round(dice["mean"], 4), "dice_ci": [round(dice["ci_low"], 4), round(dice["ci_high"], 4)],
            "minus_best": 0.0 if difference is None else round(difference["mean_difference"], 4),
            "minus_best_ci": None if difference is None else [round(difference["ci_low"], 4),
                                                              round(difference["ci_high"], 4)],
            "fps": {k: round(v, 2) for k, v in fps.items()},
            "best_fps": round(max(fps.values()), 2) if fps else None,
        })
    for row in rows:
        row["within_one_point"] = row["minus_best"] >= -WITHIN
        row["real_time"] = row["best_fps"] is not None and row["best_fps"] >= REAL_TIME_FPS
    candidates = [r for r in rows if r["within_one_point"] and r["real_time"]]
    chosen = max(candidates, key=lambda r: r["best_fps"])["variant"] if candidates else None
    return {"description": __doc__.split("\n\n")[0].replace("\n", " "),
            "figures": "primary: last.pt at threshold 0.5, out of fold (splits/cimat_cv5.json)",
            "n_images": paired["n_images"], "best": best, "real_time_config": chosen,
            "cpu": speed.get("cpu"), "cores": speed.get("cores"), "speed_command": speed.get("command"),
            "rows": rows}


def format_markdown(table: dict) -> str:
    lines = [f"# Width against speed (the recipe, {table['n_images']} out-of-fold images)", "",
             f"Frames/s at 512x512 on {table['cpu']}, {table['cores']} cores "
             f"(`{table['speed_command']}`); Dice: {table['figures']}.", "",
             "| variant | width | folds | OOF Dice [95% CI] | minus best [95% CI] | frames/s ONNX Runtime "
             "| frames/s torch channels-last | within 1 point | >= 15 fps |",
             "|---|---:|---|---|---|---:|---:|:-:|:-:|"]
    for r in table["rows"]:
        ci = f"{r['minus_best']:+.4f} [{r['minus_best_ci'][0]:+.4f}, {r['minus_best_ci'][1]:+.4f}]" \
            if r["minus_best_ci"] else "best"
        fps = [f"{r['fps'][s]:.1f}" if s in r["fps"] else "-" for s in SETTINGS]
        lines.append(f"| {r['variant']} | {r['width']} | {','.join(map(str, r['folds']))} | "
                     f"{r['dice']:.4f} [{r['dice_ci'][0]:.4f}, {r['dice_ci'][1]:.4f}] | {ci} | "
                     f"{fps[0]} | {fps[1]} | {'yes' if r['within_one_point'] else 'no'} | "
                     f"{'yes' if r['real_time'] else 'no'} |")
    chosen = table["real_time_config"]
    lines += ["", f"Real-time config (fastest within one point of the best, >= 15 frames/s): "
                  f"**{chosen or 'none'}**."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", type=Path, default=GRID)
    parser.add_argument("--results", type=Path, default=RESULTS / "results")
    parser.add_argument("--speed", type=Path, default=SPEED)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    table = pareto(read_results(args.results), _architectures(args.grid),
                   json.loads(args.speed.read_text()))
    table["command"] = "python benchmarks/width_pareto.py"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pareto.json").write_text(json.dumps(table, indent=2) + "\n")
    (args.out / "pareto.md").write_text(format_markdown(table))
    print(format_markdown(table))


if __name__ == "__main__":
    main()
